// The guest behind a FakeAgent for exec and file tests: programs that run for a while and exit with
// output, and an in-memory file system with agent-wide handles, as qemu-ga 7.2 models them
// (qga/commands.c, qga/commands-posix.c): guest-exec-status reaps on the first status after the exit,
// guest-file-read reports eof once a read came up short.
import { AgentFailure, type CommandHandler } from "./fake-agent.js";

export interface Program {
  /** How long it runs, from guest-exec. */
  runMs?: number;
  exitcode?: number;
  signal?: number;
  out?: Buffer | string;
  err?: Buffer | string;
  outTruncated?: boolean;
  errTruncated?: boolean;
}

export interface Started {
  path: string;
  args: string[];
  env: string[] | undefined;
  stdin: Buffer;
  capture: unknown;
}

interface Process {
  readonly program: Program;
  readonly exitsAt: number;
  readonly capture: boolean;
}

export class FakeGuest {
  readonly files = new Map<string, Buffer>();
  readonly started: Started[] = [];
  /** What a started program does; by default it exits 0 at once without output. */
  program: (started: Started) => Program = () => ({ exitcode: 0 });
  /** Called before each guest-file-read with its 1-based number; may throw an AgentFailure. */
  beforeRead: (nth: number) => void = () => {};
  /** At most this many bytes per guest-file-write (a full disk). */
  writeCap = Number.POSITIVE_INFINITY;
  private readonly processes = new Map<number, Process>();
  private readonly handles = new Map<number, { path: string; position: number }>();
  private nextPid = 4000;
  private nextHandle = 1000;
  private reads = 0;

  get openHandles(): number {
    return this.handles.size;
  }

  commands(): Record<string, CommandHandler> {
    return {
      "guest-exec": (args) => this.exec(args),
      "guest-exec-status": (args) => this.status(Number(args.pid)),
      "guest-file-open": (args) => this.open(String(args.path), String(args.mode ?? "r")),
      "guest-file-read": (args) => this.read(this.handle(args), Number(args.count ?? 4096)),
      "guest-file-write": (args) =>
        this.write(this.handle(args), Buffer.from(String(args["buf-b64"]), "base64")),
      "guest-file-seek": (args) => {
        const file = this.handle(args);
        // whence as qemu-ga takes it: set, cur or end (or their numbers 0, 1, 2).
        const from =
          args.whence === "end" || args.whence === 2
            ? (this.files.get(file.path)?.length ?? 0)
            : args.whence === "cur" || args.whence === 1
              ? file.position
              : 0;
        file.position = from + Number(args.offset);
        return { position: file.position, eof: false };
      },
      "guest-file-flush": (args) => {
        this.handle(args);
        return {};
      },
      "guest-file-close": (args) => {
        this.handle(args);
        this.handles.delete(Number(args.handle));
        return {};
      },
    };
  }

  private exec(args: Record<string, unknown>): { pid: number } {
    const started: Started = {
      path: String(args.path),
      args: (args.arg as string[] | undefined) ?? [],
      env: args.env as string[] | undefined,
      stdin: Buffer.from(String(args["input-data"] ?? ""), "base64"),
      capture: args["capture-output"],
    };
    this.started.push(started);
    const program = this.program(started);
    const pid = this.nextPid++;
    this.processes.set(pid, {
      program,
      exitsAt: Date.now() + (program.runMs ?? 0),
      capture: args["capture-output"] === true,
    });
    return { pid };
  }

  /** Ends a running program now (one started with a long `runMs`): a test need not wait out its run. */
  exit(pid: number): void {
    const running = this.processes.get(pid);
    if (running) this.processes.set(pid, { ...running, exitsAt: 0 });
  }

  private status(pid: number): unknown {
    const process = this.processes.get(pid);
    if (!process) throw new AgentFailure("GenericError", "Invalid parameter 'pid'");
    if (Date.now() < process.exitsAt) return { exited: false };
    this.processes.delete(pid);
    const { program } = process;
    const result: Record<string, unknown> = { exited: true };
    if (program.signal !== undefined) result.signal = program.signal;
    else result.exitcode = program.exitcode ?? 0;
    if (process.capture) {
      if (program.out !== undefined) result["out-data"] = Buffer.from(program.out).toString("base64");
      if (program.err !== undefined) result["err-data"] = Buffer.from(program.err).toString("base64");
      if (program.outTruncated) result["out-truncated"] = true;
      if (program.errTruncated) result["err-truncated"] = true;
    }
    return result;
  }

  private open(path: string, mode: string): number {
    // fopen's modes: "r"/"r+" need the file, "w"/"w+" empty it, "a"/"a+" create it (b is ignored).
    if (mode.startsWith("r") && !this.files.has(path)) {
      throw new AgentFailure(
        "GenericError",
        `failed to open file '${path}' (mode: '${mode}'): No such file or directory`,
      );
    }
    if (mode.startsWith("w")) this.files.set(path, Buffer.alloc(0));
    if (mode.startsWith("a") && !this.files.has(path)) this.files.set(path, Buffer.alloc(0));
    const handle = this.nextHandle++;
    const position = mode.startsWith("a") ? (this.files.get(path)?.length ?? 0) : 0;
    this.handles.set(handle, { path, position });
    return handle;
  }

  private handle(args: Record<string, unknown>): { path: string; position: number } {
    const file = this.handles.get(Number(args.handle));
    if (!file) throw new AgentFailure("GenericError", `handle '${String(args.handle)}' has not been found`);
    return file;
  }

  private read(file: { path: string; position: number }, count: number): unknown {
    this.beforeRead(++this.reads);
    const content = this.files.get(file.path) ?? Buffer.alloc(0);
    const chunk = content.subarray(file.position, file.position + count);
    file.position += chunk.length;
    return { count: chunk.length, "buf-b64": chunk.toString("base64"), eof: chunk.length < count };
  }

  private write(file: { path: string; position: number }, bytes: Buffer): unknown {
    const kept = bytes.subarray(0, Math.min(bytes.length, this.writeCap));
    const content = this.files.get(file.path) ?? Buffer.alloc(0);
    const before = content.subarray(0, file.position);
    const after = content.subarray(file.position + kept.length);
    this.files.set(file.path, Buffer.concat([before, kept, after]));
    file.position += kept.length;
    return { count: kept.length, eof: false };
  }
}
