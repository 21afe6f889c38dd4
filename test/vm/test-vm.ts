// Tiny real VMs for tests: a Debian kernel and an initramfs running qemu-ga (built by build-guest.sh), under
// QEMU with TCG. Boots to a running agent in seconds; see test/e2e/test-vm.test.ts for use.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, watch } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "build-guest.sh");
// sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;
// The guest's kernel log and our /init are short; this is enough to see why a boot failed.
const CONSOLE_TAIL_BYTES = 4096;

export interface TestVmOptions {
  /** Used for the temp folder's name and as the default guest hostname. */
  name: string;
  /** Folder for sockets, console log and disk; created if missing. Default: a new folder under the OS tmpdir. */
  dir?: string;
  memoryMiB?: number;
  /** Attach a fresh 16 MiB ext4 disk, which the guest mounts at /data (fsfreeze and file tests). */
  disk?: boolean;
  /** The guest's hostname (what guest-get-host-name returns). Default: derived from name. */
  hostname?: string;
}

export interface GuestImage {
  dir: string;
  kernel: string;
  initrd: string;
}

export interface QemuExit {
  code: number | null;
  signal: string | null;
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

// Directories searched besides PATH: a non-root user's or CI's PATH often lacks the sbin ones.
const EXTRA_BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The absolute path of a program, or undefined. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let guestBuild: Promise<GuestImage> | undefined;

/**
 * Builds the guest once per process (build-guest.sh is itself cached on disk, ~10 ms when built). The build
 * may install Debian packages, qemu-system-x86 among them, so call it before deciding QEMU is missing.
 */
export function buildGuest(): Promise<GuestImage> {
  guestBuild ??= (async () => {
    // A cold build downloads a 70 MB kernel package and may apt-get install QEMU: minutes on a slow mirror.
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync("bash", [BUILD_SCRIPT], {
        timeout: 15 * 60_000,
        maxBuffer: 1 << 22,
      }));
    } catch (err) {
      // Its last stderr lines say why (apt output above them is noise in a test report).
      const stderr = (err as { stderr?: unknown }).stderr;
      const tail = typeof stderr === "string" ? stderr.trim().split("\n").slice(-4).join(" | ") : "";
      throw new Error(`build-guest.sh failed: ${tail || errorMessage(err)}`);
    }
    const dir = stdout.trim().split("\n").at(-1) ?? "";
    // vmlinux (PVH entry, no in-guest decompression) boots in half the time of the bzImage under TCG.
    const vmlinux = path.join(dir, "vmlinux");
    const kernel = existsSync(vmlinux) ? vmlinux : path.join(dir, "vmlinuz");
    const image = { dir, kernel, initrd: path.join(dir, "initrd.img") };
    if (!existsSync(image.kernel) || !existsSync(image.initrd)) {
      throw new Error(`build-guest.sh printed ${JSON.stringify(dir)}, which holds no vmlinuz/initrd.img`);
    }
    return image;
  })();
  // A failed build is not remembered: a later caller retries it.
  guestBuild.catch(() => {
    guestBuild = undefined;
  });
  return guestBuild;
}

/**
 * Why tiny VMs cannot run here, or undefined when they can. Tries the guest build first, since it installs
 * QEMU when it can.
 */
export async function vmSupportProblem(): Promise<string | undefined> {
  try {
    await buildGuest();
  } catch (err) {
    return `the test guest could not be built: ${errorMessage(err)}`;
  }
  return findProgram("qemu-system-x86_64") ? undefined : "qemu-system-x86_64 is not installed";
}

/** A sparse ext4 image, made without root (mkfs.ext4 works on a plain file). */
export async function createDisk(file: string, sizeMiB = 16): Promise<void> {
  const mkfs = findProgram("mkfs.ext4");
  if (!mkfs) throw new Error("mkfs.ext4 not found (Debian package e2fsprogs)");
  const handle = await open(file, "w");
  try {
    await handle.truncate(sizeMiB * 1024 * 1024);
  } finally {
    await handle.close();
  }
  // nodiscard: discarding a fresh sparse file is pointless work.
  await execFileAsync(mkfs, ["-F", "-q", "-L", "data", "-E", "nodiscard", file]);
}

/** An error reply from the guest agent. */
export class QgaError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${errorClass}: ${desc}`);
    this.name = "QgaError";
  }
}

/**
 * A bare connection to a guest agent socket, speaking the wire protocol directly (no project code), so tests
 * of the real client have an independent reference. Only one client at a time is served by the chardev:
 * close it when done.
 */
export class AgentSocket {
  private buffer = Buffer.alloc(0);
  private readonly messages: unknown[] = [];
  private waiter: ((message: unknown) => void) | undefined;
  private closedError: Error | undefined;
  private onClosed: ((err: Error) => void) | undefined;
  // Random start: ids of an earlier client's syncs, still queued in the channel, must not match ours.
  private nextId = Math.floor(Math.random() * 1e9);

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("agent socket closed")));
  }

  static connect(socketPath: string, timeoutMs = 10_000): Promise<AgentSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${socketPath} timed out`));
      }, timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new AgentSocket(socket));
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (let nl = this.buffer.indexOf(0x0a); nl >= 0; nl = this.buffer.indexOf(0x0a)) {
      let line = this.buffer.subarray(0, nl);
      this.buffer = this.buffer.subarray(nl + 1);
      // guest-sync-delimited replies start with 0xFF: everything before the last one is stale.
      const ff = line.lastIndexOf(0xff);
      if (ff >= 0) line = line.subarray(ff + 1);
      const text = line.toString("utf8").trim();
      if (text === "") continue;
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        message = { unparsable: text };
      }
      this.messages.push(message);
    }
    if (this.waiter && this.messages.length > 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(this.messages.shift());
    }
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    this.onClosed?.(this.closedError);
  }

  /** Writes raw bytes or a JSON request. */
  write(request: string | Buffer | object): void {
    const data = typeof request === "string" || Buffer.isBuffer(request) ? request : JSON.stringify(request);
    this.socket.write(data);
  }

  /** The next reply line, parsed; undefined when none arrives in time. Rejects once the connection is gone. */
  nextMessage(timeoutMs: number): Promise<unknown> {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiter = undefined;
        this.onClosed = undefined;
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      this.waiter = (message) => {
        done();
        resolve(message);
      };
      this.onClosed = (err) => {
        done();
        reject(err);
      };
    });
  }

  /** Sends 0xFF (resets the agent's parser) and a guest-sync-delimited; returns the id to wait for. */
  sendSync(): number {
    const id = this.nextId++;
    this.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify(syncRequest(id)))]));
    return id;
  }

  /** Resynchronises: afterwards the next reply belongs to the next request. */
  async sync(timeoutMs = 10_000): Promise<void> {
    const id = this.sendSync();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.nextMessage(Math.max(0, deadline - Date.now()));
      if (message === undefined) throw new Error(`no guest-sync-delimited reply within ${timeoutMs} ms`);
      if (isReturnOf(message, new Set([id]))) return;
    }
  }

  /** Sends one command and returns its "return" value; throws QgaError on an error reply. */
  async execute(command: string, args?: object, timeoutMs = 30_000): Promise<unknown> {
    this.write(args === undefined ? { execute: command } : { execute: command, arguments: args });
    const message = await this.nextMessage(timeoutMs);
    if (message === undefined) throw new Error(`${command}: no reply within ${timeoutMs} ms`);
    return unwrapReply(command, message);
  }

  close(): void {
    this.socket.destroy();
  }
}

function syncRequest(id: number): object {
  return { execute: "guest-sync-delimited", arguments: { id } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isReturnOf(message: unknown, ids: ReadonlySet<number>): boolean {
  return isRecord(message) && typeof message.return === "number" && ids.has(message.return);
}

function unwrapReply(command: string, message: unknown): unknown {
  if (isRecord(message) && "return" in message) return message.return;
  if (isRecord(message) && isRecord(message.error)) {
    throw new QgaError(String(message.error.class), String(message.error.desc));
  }
  throw new Error(`${command}: unexpected reply ${JSON.stringify(message)}`);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function connectUnix(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      resolve(socket);
    });
  });
}

/** A minimal QMP client on one persistent connection, so that no event is missed between commands. */
class QmpClient {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private readonly events: { event: QmpEvent; taken: boolean }[] = [];
  private readonly eventWaiters = new Set<{
    name: string;
    deliver(event: QmpEvent): void;
    fail(err: Error): void;
  }>();
  private greeting: ((ok: boolean) => void) | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("QMP connection closed")));
  }

  static async connect(socketPath: string, timeoutMs: number, alive: () => boolean): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let socket: net.Socket | undefined;
    while (!socket) {
      try {
        socket = await connectUnix(socketPath);
      } catch (err) {
        // QEMU binds the socket file a moment before it listens: ECONNREFUSED then is "not yet".
        if (!alive() || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const client = new QmpClient(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no QMP greeting")), timeoutMs);
        client.greeting = (ok) => {
          clearTimeout(timer);
          if (ok) resolve();
          else reject(client.closedError ?? new Error("QMP connection closed"));
        };
      });
      // Until capabilities are negotiated QEMU accepts no other command and sends no events.
      await client.execute("qmp_capabilities");
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === "") continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        continue; // QMP only sends JSON; never let a bad line throw inside a socket event handler.
      }
      this.onMessage(message);
    }
  }

  private onMessage(message: unknown): void {
    if (!isRecord(message)) return;
    if ("QMP" in message) {
      this.greeting?.(true);
      this.greeting = undefined;
    } else if (typeof message.event === "string") {
      const event: QmpEvent = { event: message.event };
      if (isRecord(message.data)) event.data = message.data;
      if (isRecord(message.timestamp)) {
        event.timestamp = {
          seconds: Number(message.timestamp.seconds),
          microseconds: Number(message.timestamp.microseconds),
        };
      }
      const entry = { event, taken: false };
      this.events.push(entry);
      for (const waiter of this.eventWaiters) {
        if (waiter.name === event.event) {
          entry.taken = true;
          waiter.deliver(event);
          break;
        }
      }
    } else if (typeof message.id === "number") {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (isRecord(message.error)) {
        pending.reject(new Error(`QMP ${String(message.error.class)}: ${String(message.error.desc)}`));
      } else {
        pending.resolve(message.return);
      }
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.greeting?.(false);
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
    for (const waiter of this.eventWaiters) waiter.fail(err);
  }

  execute(command: string, args?: object): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(
        `${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`,
      );
    });
  }

  /** The first event of that name not yet returned, including one that arrived before this call. */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    const queued = this.events.find((entry) => !entry.taken && entry.event.event === name);
    if (queued) {
      queued.taken = true;
      return Promise.resolve(queued.event);
    }
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const waiter = {
        name,
        deliver: (event: QmpEvent) => {
          settle();
          resolve(event);
        },
        fail: (err: Error) => {
          settle();
          reject(new Error(`${err.message} while waiting for QMP event ${name}`));
        },
      };
      const timer = setTimeout(() => waiter.fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.eventWaiters.delete(waiter);
      };
      this.eventWaiters.add(waiter);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

// QEMU children still alive when the test process ends (an exception, a forgotten stop()) would keep a core
// busy forever: kill them on the way out. (Deaths that skip this hook are covered by --pdeathsig below.)
const liveQemus = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveQemus) child.kill("SIGKILL");
});

/** Resolves after ms milliseconds with undefined, or earlier with what `promise` resolves to. */
async function raceDelay<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    // The timer is cleared either way: a pending one would keep the test process alive after the tests.
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when every file exists; rejects when `abort` settles first or on timeout. */
async function waitForFiles(dir: string, files: string[], abort: Promise<unknown>, timeoutMs: number) {
  const allThere = () => files.every((file) => existsSync(path.join(dir, file)));
  if (allThere()) return;
  const watcher = watch(dir);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`QEMU created no ${files.join(", ")} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const check = () => {
        if (!allThere()) return;
        clearTimeout(timer);
        resolve();
      };
      watcher.on("change", check);
      watcher.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      abort.then(
        () => {
          clearTimeout(timer);
          reject(new Error("QEMU exited"));
        },
        () => {},
      );
      check(); // The files may have appeared between the first check and the watch.
    });
  } finally {
    watcher.close();
  }
}

const TEMP_PREFIX = "qga-vm-";
const OWNER_FILE = "owner.pid";
let swept: Promise<void> | undefined;

/**
 * Removes temp folders left by test processes that died without stop() (killed by a runner's timeout: their
 * QEMU died with them, see --pdeathsig). Once per process; a folder whose owner still runs is kept.
 */
function sweepStaleVmDirs(): Promise<void> {
  swept ??= (async () => {
    const tmp = os.tmpdir();
    for (const entry of await readdir(tmp)) {
      if (!entry.startsWith(TEMP_PREFIX)) continue;
      const dir = path.join(tmp, entry);
      try {
        const owner = Number.parseInt(await readFile(path.join(dir, OWNER_FILE), "utf8"), 10);
        if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
        await rm(dir, { recursive: true, force: true });
      } catch {
        // No owner file (being created, or not ours): leave it alone.
      }
    }
  })();
  return swept;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class TestVm {
  readonly exited: Promise<QemuExit>;
  readonly qgaSocket: string;
  readonly qmpSocket: string;
  readonly consoleLog: string;
  private qmpClient: QmpClient | undefined;
  private hasExited = false;
  private stderrTail = "";
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly child: ChildProcess,
  ) {
    this.qgaSocket = path.join(dir, "qga.sock");
    this.qmpSocket = path.join(dir, "qmp.sock");
    this.consoleLog = path.join(dir, "console.log");
    liveQemus.add(child);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-CONSOLE_TAIL_BYTES);
    });
    this.exited = new Promise((resolve) => {
      const finish = (exit: QemuExit) => {
        this.hasExited = true;
        liveQemus.delete(child);
        resolve(exit);
      };
      child.once("exit", (code, signal) => finish({ code, signal }));
      // spawn failures (ENOENT, EACCES) emit "error" and never "exit".
      child.once("error", (err) => {
        this.stderrTail += `\n${err.message}`;
        finish({ code: null, signal: null });
      });
    });
  }

  /** False once the QEMU process has exited. */
  get running(): boolean {
    return !this.hasExited;
  }

  /** The QEMU process id (for measurements). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Starts QEMU and resolves once it has created its sockets, not once the guest booted: wait for the agent
   * with waitForAgent(). Rejects, with the console tail, when QEMU exits first.
   */
  static async boot(opts: TestVmOptions): Promise<TestVm> {
    const image = await buildGuest();
    const qemu = findProgram("qemu-system-x86_64");
    if (!qemu) throw new Error("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)");

    const safeName = opts.name.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 40) || "vm";
    let dir: string;
    let ownsDir: boolean;
    if (opts.dir) {
      dir = path.resolve(opts.dir);
      ownsDir = !existsSync(dir);
      await mkdir(dir, { recursive: true });
    } else {
      await sweepStaleVmDirs();
      dir = await mkdtemp(path.join(os.tmpdir(), `${TEMP_PREFIX}${safeName}-`));
      ownsDir = true;
      await writeFile(path.join(dir, OWNER_FILE), String(process.pid));
    }
    if (Buffer.byteLength(path.join(dir, "qga.sock")) > MAX_SOCKET_PATH) {
      throw new Error(`socket paths under ${dir} exceed ${MAX_SOCKET_PATH} bytes: use a shorter dir`);
    }
    const hostname = opts.hostname ?? safeName;
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(hostname)) throw new Error(`invalid hostname ${hostname}`);

    const args = [
      "-machine",
      "pc",
      // KVM hangs on these hosts; TCG is slower but boots this guest in seconds.
      "-accel",
      "tcg",
      "-cpu",
      "max",
      "-m",
      String(opts.memoryMiB ?? 256),
      // -nodefaults: no VGA, NIC or CD-ROM to emulate (and no e1000 option ROM to load): a faster boot.
      "-nographic",
      "-nodefaults",
      "-kernel",
      image.kernel,
      "-initrd",
      image.initrd,
      "-append",
      `console=ttyS0 quiet qga_hostname=${hostname}`,
      "-serial",
      `file:${path.join(dir, "console.log")}`,
      "-chardev",
      `socket,path=${path.join(dir, "qga.sock")},server=on,wait=off,id=qga0`,
      "-device",
      "virtio-serial",
      "-device",
      "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
      "-chardev",
      `socket,path=${path.join(dir, "qmp.sock")},server=on,wait=off,id=qmp0`,
      "-mon",
      "chardev=qmp0,mode=control",
      // No -no-reboot: guest-shutdown mode=reboot must reset the VM (a RESET event) and the agent come back.
    ];
    if (opts.disk) {
      const disk = path.join(dir, "disk.img");
      try {
        await createDisk(disk);
      } catch (err) {
        if (ownsDir) await rm(dir, { recursive: true, force: true });
        throw err;
      }
      // cache=unsafe: the image is thrown away with the VM, so host fsyncs are wasted time.
      args.push("-drive", `file=${disk},if=virtio,format=raw,cache=unsafe`);
    }

    // setpriv --pdeathsig: the kernel kills QEMU when this process dies in any way, even by SIGKILL (the
    // test runner's fate for a hung file), where no exit handler runs. setpriv then execs QEMU, same pid.
    const setpriv = findProgram("setpriv");
    const child = setpriv
      ? spawn(setpriv, ["--pdeathsig", "KILL", "--", qemu, ...args], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(qemu, args, { stdio: ["ignore", "ignore", "pipe"] });
    const vm = new TestVm(dir, ownsDir, child);
    try {
      // QEMU makes both sockets while starting up, well before the guest runs.
      await waitForFiles(dir, ["qga.sock", "qmp.sock"], vm.exited, 30_000);
      // Chardevs are set up in command-line order, so once QMP listens the agent socket does too.
      vm.qmpClient = await QmpClient.connect(vm.qmpSocket, 30_000, () => vm.running);
    } catch (err) {
      const reason = vm.hasExited
        ? `QEMU exited early (${JSON.stringify(await vm.exited)})`
        : errorMessage(err);
      const detail = await vm.diagnostics();
      await vm.stop();
      throw new Error(`${reason}\n${detail}`);
    }
    return vm;
  }

  /** The QEMU stderr and console log tails, for error messages. */
  async diagnostics(): Promise<string> {
    let log: string;
    try {
      log = (await readFile(this.consoleLog, "utf8")).slice(-CONSOLE_TAIL_BYTES);
    } catch {
      log = "(no console log)";
    }
    // SeaBIOS clears the screen with escape sequences; they make the log unreadable in a test report.
    const clean = log
      .split("\u001b")
      .map((part, i) => (i === 0 ? part : part.replace(/^(\[[0-9;?]*[A-Za-z]|c)/, "")))
      .join("");
    return `--- QEMU stderr ---\n${this.stderrTail.trim()}\n--- console tail ---\n${clean.trim()}`;
  }

  /**
   * Waits until the guest agent answers a guest-sync-delimited on a bare socket. Written requests wait in
   * the channel until the agent opens its port, so one connection suffices; the sync is re-sent now and
   * then in case a request got lost to a restarting agent. The connection is closed before returning.
   */
  async waitForAgent(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError = "no answer";
    while (Date.now() < deadline) {
      if (this.hasExited) break;
      let agent: AgentSocket | undefined;
      try {
        agent = await AgentSocket.connect(this.qgaSocket, Math.max(1, deadline - Date.now()));
        const ids = new Set([agent.sendSync()]);
        for (;;) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) break;
          const message = await agent.nextMessage(Math.min(remaining, 3_000));
          if (message === undefined) ids.add(agent.sendSync());
          else if (isReturnOf(message, ids)) return;
        }
      } catch (err) {
        // The connection closed (QEMU exiting, or a socket not ready): retry at once unless QEMU is gone.
        lastError = errorMessage(err);
        await raceDelay(this.exited, 200);
      } finally {
        agent?.close();
      }
    }
    const why = this.hasExited ? `QEMU exited (${JSON.stringify(await this.exited)})` : lastError;
    throw new Error(`guest agent did not answer within ${timeoutMs} ms: ${why}\n${await this.diagnostics()}`);
  }

  /** Runs a QMP command on the VM's monitor and returns its "return" value. */
  async qmp(command: string, args?: object): Promise<unknown> {
    if (!this.qmpClient) throw new Error("QMP is not connected");
    return this.qmpClient.execute(command, args);
  }

  /**
   * The first QMP event of that name not returned by an earlier call, counting events since boot: an event
   * that arrived before the call (e.g. RESET right after guest-shutdown) is not missed.
   */
  async waitForQmpEvent(
    name: "SHUTDOWN" | "RESET" | "POWERDOWN" | string,
    timeoutMs = 60_000,
  ): Promise<QmpEvent> {
    if (!this.qmpClient) throw new Error("QMP is not connected");
    return this.qmpClient.waitForEvent(name, timeoutMs);
  }

  /** Quits QEMU (QMP quit, then SIGKILL if it lingers) and removes the folder if boot() created it. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.hasExited) {
        if (this.qmpClient) {
          try {
            await raceDelay(this.qmp("quit"), 5_000);
          } catch {
            // The connection closes as QEMU quits, sometimes before the reply: the exit below is what counts.
          }
        } else {
          // Boot failed before QMP was up: SIGTERM also makes QEMU exit cleanly.
          this.child.kill("SIGTERM");
        }
        if ((await raceDelay(this.exited, 10_000)) === undefined) {
          this.child.kill("SIGKILL");
          await this.exited;
        }
      }
      this.qmpClient?.close();
      if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}
