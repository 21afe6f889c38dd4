import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findTool, skipWithout } from "./tools.js";
import { waitForPath } from "./wait.js";

/**
 * Every command of the real agent that could change the machine the tests run on. The agent runs as
 * root on the test host itself (`-m unix-listen`), so these stay blocked whatever a test wants. The same
 * list for 7.2 and 10.0: 10.0's new commands (guest-get-load, guest-network-get-route) only read, and
 * real-agent.test.ts checks each agent's own command list against this one.
 */
export const MACHINE_CHANGING_COMMANDS = [
  "guest-shutdown",
  "guest-suspend-disk",
  "guest-suspend-ram",
  "guest-suspend-hybrid",
  "guest-set-user-password",
  "guest-set-time",
  "guest-set-vcpus",
  "guest-set-memory-blocks",
  "guest-fsfreeze-freeze",
  "guest-fsfreeze-freeze-list",
  "guest-fsfreeze-thaw",
  "guest-fstrim",
  "guest-ssh-add-authorized-keys",
  "guest-ssh-remove-authorized-keys",
  "guest-exec",
  "guest-file-open",
] as const;

export interface RealAgent {
  readonly socket: string;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Stops the agent (and waits for it); the folder stays until `dispose`. */
  kill(): Promise<void>;
  /** Starts the agent again on the same socket. */
  restart(): Promise<RealAgent>;
  dispose(): Promise<void>;
}

export interface RealAgentOptions {
  /** Reuse a folder (restart); a new temporary one otherwise. */
  readonly dir?: string;
  /** More commands to block, for tests of disabled commands. */
  readonly alsoBlock?: readonly string[];
  /**
   * Machine-changing commands to leave enabled (guest-file-open, guest-exec for the transfer tests): only
   * for a test whose worker confines them with `restrictions` to a temporary folder and fixed programs.
   */
  readonly allow?: readonly string[];
  /** The qemu-ga program to run (one of realAgentVersions()); the one on PATH otherwise. */
  readonly binary?: string;
}

/** A real qemu-ga the tests can run: its major.minor version and its program. */
export interface RealAgentVersion {
  readonly version: string;
  readonly binary: string;
  /** For `describe(..., { skip })`: false when the program is there (in CI a missing one throws). */
  readonly skip: false | string;
}

/** Where scripts/fetch-qemu-ga.sh unpacks qemu-ga 10.0 (Debian's bookworm-backports package). */
export function agent10Dir(): string {
  return (
    process.env.QGA_MQTT_QGA10_DIR ??
    fileURLToPath(new URL("../../.cache/qemu-ga-10.0/", import.meta.url)).replace(/\/$/, "")
  );
}

/** major.minor of a qemu-ga program (`QEMU Guest Agent 7.2.22`), or undefined when it does not run. */
function versionOf(binary: string): string | undefined {
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return /Guest Agent (\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The real agents to run version-specific checks over: the system's qemu-ga (Debian 12's 7.2) and the
 * 10.0 that scripts/fetch-qemu-ga.sh unpacks (not installed). Both are always listed, each with its skip:
 * outside CI a missing one skips with what to run; with CI=true it throws, like skipWithout.
 */
export function realAgentVersions(): RealAgentVersion[] {
  const systemSkip = skipWithout("qemu-ga");
  const system = findTool("qemu-ga") ?? "/usr/sbin/qemu-ga";
  const systemVersion = (!systemSkip && versionOf(system)) || "7.2";
  const agents: RealAgentVersion[] = [{ version: systemVersion, binary: system, skip: systemSkip }];
  // A system agent that is already 10.0 (Debian 13) would be the same version twice: it runs once.
  if (systemVersion === "10.0") return agents;
  const binary = path.join(agent10Dir(), "usr/sbin/qemu-ga");
  let skip: false | string = false;
  if ((isExecutable(binary) ? versionOf(binary) : undefined) !== "10.0") {
    skip = `needs qemu-ga 10.0 at ${binary} (run scripts/fetch-qemu-ga.sh; .ci/run does)`;
    if (process.env.CI === "true") throw new Error(`CI must not skip: ${skip}`);
  }
  agents.push({ version: "10.0", binary, skip });
  return agents;
}

/** The real qemu-ga in unix-listen mode on a temporary socket, with every machine-changing command blocked. */
export async function startRealAgent(options: RealAgentOptions = {}): Promise<RealAgent> {
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), "qga-real-")));
  const socket = path.join(dir, "qga.sock");
  await rm(socket, { force: true });
  const allowed = new Set<string>(options.allow ?? []);
  const blocked = [
    ...MACHINE_CHANGING_COMMANDS.filter((c) => !allowed.has(c)),
    ...(options.alsoBlock ?? []),
  ].join(",");
  const child = spawn(
    options.binary ?? "qemu-ga",
    ["-m", "unix-listen", "-p", socket, "-t", dir, "-f", path.join(dir, "qemu-ga.pid"), "-b", blocked],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = once(child, "exit");
  await Promise.race([
    waitForPath(socket, 10_000).then(() => waitUntilListening(socket)),
    exited.then(() => {
      throw new Error(`qemu-ga exited at start: ${stderr}`);
    }),
  ]);
  const agent: RealAgent = {
    socket,
    dir,
    process: child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGKILL: qemu-ga 7.2 can deadlock in its SIGTERM handler when a client has just disconnected
        // (seen with gdb: g_main_loop_quit inside g_source_attach), leaving the process behind forever.
        child.kill("SIGKILL");
        await exited;
      }
    },
    async restart() {
      await agent.kill();
      return startRealAgent({ ...options, dir });
    },
    async dispose() {
      await agent.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return agent;
}

/**
 * The socket file appears at bind(), a moment before listen(): a connect in between is refused. Wait until
 * one succeeds (and close it at once: the agent serves one client at a time).
 */
async function waitUntilListening(socket: string, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const probe = net.connect(socket);
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`qemu-ga never accepted a connection on ${socket}`);
}
