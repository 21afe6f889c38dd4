import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface WorkerProcess {
  readonly process: ChildProcess;
  /** Every log line so far (pino JSON). */
  readonly logs: string[];
  /** Everything the worker wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the first log line whose JSON satisfies `match`. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The worker as a user runs it: the real CLI (`qga-mqtt run --config FILE`) in its own process, with the
 * configuration written to a YAML file.
 */
export async function startWorker(
  dir: string,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  readyTimeoutMs = 20_000,
): Promise<WorkerProcess> {
  const file = path.join(dir, `worker-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.yaml`);
  await writeFile(file, stringify(config));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(root, "src/main.ts"), "run", "--config", file],
    {
      cwd: root,
      // Each test's workers keep their request journal in the test's own folder, never the user's.
      env: { ...process.env, QGA_MQTT_STATE_DIR: path.join(dir, "state"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: string[] = [];
  const listeners = new Set<(line: string) => void>();
  let partial = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      logs.push(line);
      for (const listener of listeners) listener(line);
    }
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "exit");
  const parse = (line: string): Record<string, unknown> | undefined => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const worker: WorkerProcess = {
    process: child,
    logs,
    stderr: () => stderr,
    waitForLog(match, timeoutMs = 20_000) {
      const seen = logs.map(parse).find((l) => l && match(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`));
        }, timeoutMs);
        const listener = (line: string) => {
          const parsed = parse(line);
          if (parsed && match(parsed)) {
            clearTimeout(timer);
            listeners.delete(listener);
            resolve(parsed);
          }
        };
        listeners.add(listener);
        void exited.then(() => {
          clearTimeout(timer);
          const last = [...logs.slice(-3), partial].join("\n");
          reject(new Error(`the worker exited (code ${child.exitCode}): ${last}\n${stderr.slice(-1000)}`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
  await worker.waitForLog((l) => String(l.msg ?? "").startsWith("worker ready"), readyTimeoutMs);
  return worker;
}
