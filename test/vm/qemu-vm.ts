// One test VM: the QEMU process (TCG, the guest of guest-image.ts), its agent socket and its QMP monitor.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, watch } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { AgentSocket, isReturnOf } from "./agent-socket.js";
import { buildGuest, createDisk, findProgram } from "./guest-image.js";
import { qemuArgs, vmFiles } from "./qemu-args.js";
import { QmpClient, type QmpEvent } from "./qmp-client.js";
import { CONSOLE_TAIL_BYTES, consoleTail } from "./serial-console.js";
import { errorMessage, raceDelay } from "./util.js";
import { createVmDir } from "./vm-dirs.js";

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

export interface QemuExit {
  code: number | null;
  signal: string | null;
}

// QEMU children still alive when the test process ends (an exception, a forgotten stop()) would keep a core
// busy forever: kill them on the way out. (Deaths that skip this hook are covered by --pdeathsig below.)
const liveQemus = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveQemus) child.kill("SIGKILL");
});

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
    const files = vmFiles(dir);
    this.qgaSocket = files.qgaSocket;
    this.qmpSocket = files.qmpSocket;
    this.consoleLog = files.consoleLog;
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
    const { dir, ownsDir } = await createVmDir(safeName, opts.dir);
    const hostname = opts.hostname ?? safeName;
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(hostname)) throw new Error(`invalid hostname ${hostname}`);
    if (opts.disk) {
      try {
        await createDisk(vmFiles(dir).disk);
      } catch (err) {
        if (ownsDir) await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
    const args = qemuArgs({
      image,
      dir,
      memoryMiB: opts.memoryMiB ?? 256,
      hostname,
      disk: opts.disk ?? false,
    });

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
    const clean = await consoleTail(this.consoleLog);
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
