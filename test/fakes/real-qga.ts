// Runs the real qemu-ga on a unix socket for tests, always with every command that would change
// this machine blocked (shutdown, suspend, passwords, time, vcpus, memory, freeze, trim, ssh keys,
// exec, file-open), so a test gone wrong cannot reboot or alter the host.
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import net from "node:net";
import path from "node:path";

// biome-ignore format: a list of names
export const QGA_BLOCKED: readonly string[] = [
  "guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid",
  "guest-set-user-password", "guest-set-time", "guest-set-vcpus", "guest-set-memory-blocks",
  "guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim",
  "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys", "guest-exec", "guest-file-open",
];

/** The qemu-ga binary, looked up on PATH and in /usr/sbin (often not on a non-root PATH). */
export function findQemuGa(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, "qemu-ga");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export interface RealAgent {
  path: string;
  stop(): Promise<void>;
}

/** Start qemu-ga serving `dir`/qga.sock (state and pid file in `dir` too); resolves once it listens. */
export async function startRealAgent(binary: string, dir: string, timeoutMs = 10_000): Promise<RealAgent> {
  const socketPath = path.join(dir, "qga.sock");
  const args = ["-m", "unix-listen", "-p", socketPath, "-t", dir, "-f", path.join(dir, "qga.pid")];
  const child = spawn(binary, [...args, "-b", QGA_BLOCKED.join(",")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await listening(socketPath, child, () => stderr, timeoutMs);
  } catch (err) {
    await kill(child, exited);
    throw err;
  }
  return { path: socketPath, stop: () => kill(child, exited) };
}

/**
 * Resolve once a connection succeeds. The socket file exists from bind(), before listen(), so only a
 * connect proves readiness; there is no event for that, hence short retries. The probe connection
 * sends nothing, so it leaves the agent's parser untouched.
 */
async function listening(file: string, child: ChildProcess, stderr: () => string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`qemu-ga exited: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const probe = net.createConnection(file);
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`qemu-ga did not listen on ${file}: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  await exited;
}
