/**
 * `npx tsx bench/status-probe.ts [COUNT] [SECONDS]`: the worker's CPU while it keeps the status of COUNT
 * lean fake agents (default 1,000) polled every 30 s, over SECONDS (default 30: one poll of every VM) after 8 s of start-up:
 * row 4's measurement alone, quicker to repeat while trying a change. `QGA_BENCH_NODE_FLAGS="--cpu-prof
 * --cpu-prof-dir=DIR"` passes flags to the worker's node (a profile, `--trace-gc`); it prints the pid
 * first, for `strace -c -p` or `perf record -p`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { procReading, sleep, spawnWorker, startBenchBroker, startFakeFleet, threadTicks } from "./lib.js";

const count = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 30);
const nodeFlags = (process.env.QGA_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
const dir = await mkdtemp(path.join(os.tmpdir(), "qga-status-probe-"));
const broker = await startBenchBroker();
const fleet = await startFakeFleet(dir, count, "p");
const worker = await spawnWorker(
  dir,
  "probe",
  {
    worker: { id: "probe" },
    mqtt: { url: broker.url, baseTopic: "probe" },
    vms: fleet.vms,
    status: { intervalSeconds: 30 },
  },
  nodeFlags,
);
try {
  await worker.ready;
  process.stdout.write(`worker pid ${worker.pid}\n`);
  await sleep(8000);
  const before = procReading(worker.pid).cpuSeconds;
  const threadsBefore = threadTicks(worker.pid);
  await sleep(seconds * 1000);
  const after = procReading(worker.pid);
  const threadsAfter = threadTicks(worker.pid);
  const pct = ((after.cpuSeconds - before) / seconds) * 100;
  process.stdout.write(
    `${count} agents every 30 s: ${pct.toFixed(2)}% of a core over ${seconds} s, RSS ${(after.rssBytes / 2 ** 20).toFixed(0)} MiB\n`,
  );
  // Which threads the CPU went to: the main thread (JS, syscalls), V8's GC helpers, libuv's pool.
  for (const [name, [user, system]] of threadsAfter) {
    const [user0, system0] = threadsBefore.get(name) ?? [0, 0];
    if (user - user0 + system - system0 === 0) continue;
    process.stdout.write(
      `  ${name.padEnd(16)} user ${((user - user0) * 10).toString().padStart(5)} ms, system ${((system - system0) * 10).toString().padStart(5)} ms\n`,
    );
  }
} finally {
  await worker.stop();
  await fleet.stop();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
