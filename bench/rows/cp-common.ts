/**
 * Shared by rows 7 and 8 (`qga-mqtt cp`): real qemu-ga with guest-file-open and guest-exec enabled, the
 * worker's config confining them (as test/integration/cp.test.ts does), and `cp` timed as a person runs it.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { type RealAgent, startRealAgent } from "../../test/helpers/qemu-ga.js";
import { cliArgv } from "../lib.js";

const run = promisify(execFile);

/** In unix-listen mode the agent's guest is this machine: the worker confines files to `data`. */
export function cpWorkerConfig(
  id: string,
  url: string,
  data: string,
  vms: ReadonlyArray<{ readonly name: string; readonly socket: string }>,
): Record<string, unknown> {
  return {
    worker: { id },
    mqtt: { url },
    vms: vms.map((vm) => ({ ...vm, groups: ["copy"] })),
    policy: { default: ["read", "files"] },
    restrictions: { default: { files: [data], exec: ["/bin/mv", "/bin/chmod", "/bin/rm"] } },
    log: { level: "warn" },
  };
}

/** `count` real agents that take file and exec commands, started in batches of 10. */
export async function startFileAgents(count: number, into: RealAgent[]): Promise<void> {
  for (let start = 0; start < count; start += 10) {
    const batch = Array.from({ length: Math.min(10, count - start) }, () =>
      startRealAgent({ allow: ["guest-file-open", "guest-exec"] }),
    );
    into.push(...(await Promise.all(batch)));
  }
}

export interface CpLine {
  readonly vm: string;
  readonly ok: boolean;
  readonly bytes?: number;
  readonly sha256?: string;
  readonly error?: unknown;
}

/** `qga-mqtt cp SRC DST --json`: wall time (process start included) and its lines; throws unless all ok. */
export async function timeCp(
  url: string,
  src: string,
  dst: string,
): Promise<{ ms: number; lines: CpLine[] }> {
  const started = performance.now();
  const { stdout, stderr } = await run(
    process.execPath,
    [...cliArgv(), "cp", src, dst, "--json", "--url", url, "--timeout", "120"],
    { maxBuffer: 64 * 2 ** 20 },
  ).catch((error: { stdout?: string; stderr?: string }) => ({
    stdout: error.stdout ?? "",
    stderr: `${error.stderr ?? ""} ${String(error)}`,
  }));
  const ms = performance.now() - started;
  const lines = stdout
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as CpLine);
  const bad = lines.filter((line) => !line.ok);
  if (lines.length === 0 || bad.length > 0)
    throw new Error(`cp ${src} ${dst}: ${JSON.stringify(bad[0] ?? stdout)} ${stderr.slice(-500)}`);
  return { ms, lines };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 2 ** 20 }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** A file of `bytes` random bytes, written 4 MiB at a time; returns its sha256. */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const { randomBytes } = await import("node:crypto");
  const hash = createHash("sha256");
  const handle = await open(file, "w");
  try {
    for (let done = 0; done < bytes; ) {
      const chunk = randomBytes(Math.min(4 * 2 ** 20, bytes - done));
      hash.update(chunk);
      await handle.write(chunk);
      done += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest("hex");
}

export const mib = (bytes: number) => bytes / 2 ** 20;
