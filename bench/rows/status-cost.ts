/**
 * Row 4: the cost of keeping status (CPU % of one core and RSS of the worker polling N fake agents every
 * 30 s) and row 5: start-up (process start → every VM's first status published, 100 agents).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import { procReading, runtimeNote, sleep, spawnWorker, startBenchBroker, startFakeFleet } from "../lib.js";
import type { RowOptions, RowResult } from "./types.js";

export async function idleCost(options: RowOptions): Promise<RowResult> {
  const seconds = options.quick ? 35 : 75;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-cost-"));
  const broker = await startBenchBroker();
  const figures: Record<string, number | string> = { seconds, runtime: runtimeNote };
  const table: Array<readonly [string, string, string]> = [];
  let pass = true;
  try {
    for (const count of [100, 1000]) {
      const fleet = await startFakeFleet(dir, count, `c${count}-`);
      const worker = await spawnWorker(dir, `cost-${count}`, {
        worker: { id: `bench-cost-${count}` },
        mqtt: { url: broker.url, baseTopic: `cost${count}` },
        vms: fleet.sockets.map((socket, i) => ({ name: `vm${i}`, socket })),
        status: { intervalSeconds: 30 },
      });
      try {
        await worker.ready;
        await sleep(5000); // the first polls of every VM
        const before = procReading(worker.pid);
        const started = performance.now();
        await sleep(seconds * 1000);
        const after = procReading(worker.pid);
        const elapsed = (performance.now() - started) / 1000;
        const cpuPct = ((after.cpuSeconds - before.cpuSeconds) / elapsed) * 100;
        const rssMiB = after.rssBytes / 2 ** 20;
        const hwmMiB = after.hwmBytes / 2 ** 20;
        figures[`cpuPct${count}`] = cpuPct;
        figures[`rssMiB${count}`] = rssMiB;
        figures[`peakRssMiB${count}`] = hwmMiB;
        if (count === 1000) pass = cpuPct < 2 && rssMiB < 150;
        table.push([
          `${count.toLocaleString("en")} agents polled every 30 s (${Math.round(elapsed)} s)`,
          `${cpuPct.toFixed(2)}% of a core, RSS ${rssMiB.toFixed(0)} MiB (peak ${hwmMiB.toFixed(0)})`,
          count === 1000 ? `**${(cpuPct / 2).toFixed(2)}× / ${(rssMiB / 150).toFixed(2)}×** the goals` : "",
        ]);
      } finally {
        await worker.stop();
        await fleet.stop();
      }
    }
    return {
      id: "idle-cost",
      title: "4. cost of keeping status",
      goal: "under 2% of one core and under 150 MB RSS at 1,000 agents",
      pass,
      figures,
      table,
      notes: [
        `Worker run as ${runtimeNote}, log level info; CPU from utime+stime in /proc/<pid>/stat, RSS from VmRSS, measured after the first polls.`,
      ],
    };
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startup(options: RowOptions): Promise<RowResult> {
  const count = 100;
  const repeats = options.quick ? 2 : 5;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-start-"));
  const broker = await startBenchBroker();
  const fleet = await startFakeFleet(dir, count);
  const samples: number[] = [];
  try {
    for (let r = 0; r < repeats; r++) {
      const base = `start${r}`;
      const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
      const seen = new Set<string>();
      let last = 0;
      watcher.on("message", (topic, payload) => {
        const status = JSON.parse(payload.toString()) as { agent?: string };
        if (status.agent === "online" && !seen.has(topic)) {
          seen.add(topic);
          last = performance.now();
        }
      });
      await watcher.subscribeAsync(`${base}/+/status`, { qos: 1 });
      const worker = await spawnWorker(dir, `start-${r}`, {
        worker: { id: `bench-start-${r}` },
        mqtt: { url: broker.url, baseTopic: base },
        vms: fleet.sockets.map((socket, i) => ({ name: `vm${i}`, socket })),
      });
      const deadline = performance.now() + 20_000;
      while (seen.size < count && performance.now() < deadline) await sleep(5);
      await worker.stop();
      await watcher.endAsync(true);
      if (seen.size < count) throw new Error(`only ${seen.size} of ${count} statuses within 20 s`);
      samples.push(last - worker.spawnedAt);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return {
      id: "startup",
      title: "5. start-up",
      goal: "process start → every VM's first status published, 100 agents: under 2 s",
      pass: median < 2000,
      figures: { agents: count, repeats, medianMs: median, maxMs: sorted.at(-1)!, runtime: runtimeNote },
      table: [
        [
          `spawn → the 100th \`online\` status received (${repeats} starts)`,
          `median ${(median / 1000).toFixed(2)} s, worst ${(sorted.at(-1)! / 1000).toFixed(2)} s`,
          `**${(median / 2000).toFixed(2)}×** the goal`,
        ],
      ],
      notes: [`Worker run as ${runtimeNote}; node's own start-up is included.`],
    };
  } finally {
    await fleet.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
