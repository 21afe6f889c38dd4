/**
 * `npx tsx bench/trace-ping.ts [SECONDS]`: pings one worker (one real qemu-ga) one at a time for SECONDS
 * (default 20), printing every process's pid first, for `perf trace -p` on all of them: where a ping's
 * time goes between the processes. `QGA_BENCH_NODE_FLAGS` passes flags to the worker's node (`--cpu-prof
 * --cpu-prof-dir=DIR`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startRealAgent } from "../test/helpers/qemu-ga.js";
import { LoadClient, spawnWorker, startBenchBroker } from "./lib.js";
import { summarize } from "./stats.js";

const seconds = Number(process.argv[2] ?? 20);
const nodeFlags = (process.env.QGA_BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
const dir = await mkdtemp(path.join(os.tmpdir(), "qga-trace-"));
const broker = await startBenchBroker();
const agent = await startRealAgent();
const worker = await spawnWorker(
  dir,
  "trace",
  {
    worker: { id: "trace" },
    mqtt: { url: broker.url, baseTopic: "trace" },
    vms: [{ name: "vm0", socket: agent.socket }],
    status: { intervalSeconds: 3600 },
  },
  nodeFlags,
);
try {
  await worker.ready;
  const client = await LoadClient.connect(broker.url, "trace", "ping");
  process.stdout.write(
    `pids: client ${process.pid} broker ${broker.pid} worker ${worker.pid} agent ${agent.process.pid}\n`,
  );
  const samples: number[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) samples.push(await client.request("vm0"));
  const s = summarize(samples.slice(500));
  process.stdout.write(
    `${samples.length} pings: median ${(s.median * 1000).toFixed(0)} µs, p99 ${(s.p99 * 1000).toFixed(0)} µs\n`,
  );
  await client.close();
} finally {
  await worker.stop();
  await agent.dispose();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
