import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CliProcess {
  readonly process: ChildProcess;
  /** Every complete line so far, per stream. */
  readonly lines: { readonly stdout: string[]; readonly stderr: string[] };
  /** The first line (past or still to come) of `stream` that satisfies `match`. */
  line(stream: "stdout" | "stderr", match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (SIGINT, as Ctrl-C does) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A long-running CLI command (`qga-mqtt watch`) as a user runs it, in its own process: its output read line
 * by line as it comes, so a test awaits the line it wants instead of sleeping.
 */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const listeners = new Set<() => void>();
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  for (const stream of ["stdout", "stderr"] as const) {
    let partial = "";
    child[stream]!.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop() ?? "";
      lines[stream].push(...parts);
      for (const listener of [...listeners]) listener();
    });
  }
  return {
    process: child,
    lines,
    line(stream, match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines[stream].find(match);
          if (found === undefined) return;
          finish();
          resolve(found);
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `no matching ${stream} line within ${timeoutMs} ms; stdout: ${lines.stdout.join("\n").slice(-1500)}\nstderr: ${lines.stderr.join("\n").slice(-1500)}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then(([code]) => {
          if (!listeners.has(check)) return;
          finish();
          reject(
            new Error(
              `the CLI exited (code ${code}) before a matching ${stream} line; stdout: ${lines.stdout.join("\n").slice(-1500)}\nstderr: ${lines.stderr.join("\n").slice(-1500)}`,
            ),
          );
        });
        check();
      });
    },
    async stop(signal = "SIGINT") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
