import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { cliArgv } from "../lib.js";

const run = promisify(execFile);

/** `call all status` as a person runs it, with this build's CLI or another's (`main`: its main.js). */
export async function timeCall(
  url: string,
  timeoutSeconds: number,
  main?: string,
): Promise<{ ms: number; replies: number }> {
  const started = performance.now();
  const argv = [...cliArgv(main), "call", "all", "status", "--json", "--url", url];
  // A VM that did not answer ok makes the exit code 1 or 3: the caller counts the ok replies itself.
  const { stdout } = await run(process.execPath, [...argv, "--timeout", String(timeoutSeconds)], {
    maxBuffer: 256 * 2 ** 20,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
  const ms = performance.now() - started;
  const replies = stdout
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as { ok?: boolean })
    .filter((reply) => reply.ok === true).length;
  return { ms, replies };
}
