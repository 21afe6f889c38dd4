/**
 * Row 4: the cost of keeping status (CPU % of one core and RSS of the worker polling N fake agents every
 * 30 s).
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import {
  alternateBuilds,
  benchFleet,
  describeBuild,
  procReading,
  runtimeNote,
  sleep,
  spawnWorker,
  startBenchBroker,
  startFakeFleet,
  workerBuilds,
} from "../lib.js";
import { median } from "../stats.js";
import type { RowOptions, RowResult } from "./types.js";

/**
 * With `--baseline FILE`: the two builds take turns polling the same 1,000 fake agents, every 5 s (six
 * times the row's load, so that a short window holds many polls), and each one's CPU per poll is compared.
 */
async function idleCostAB(options: RowOptions, baseline: string): Promise<RowResult> {
  const count = 1000;
  const intervalSeconds = 5;
  const seconds = options.quick ? 15 : 30;
  const rounds = options.quick ? 3 : 5;
  const { dir, broker, fleet, close } = await benchFleet("cost-ab", count, "ab-");
  const perPoll: Record<"build" | "baseline", number[]> = { build: [], baseline: [] };
  try {
    await alternateBuilds(rounds, baseline, async (which, main, round) => {
      const worker = await spawnWorker(
        dir,
        `cost-${which}`,
        {
          worker: { id: "bench-cost-ab" },
          mqtt: { url: broker.url, baseTopic: "costab" },
          vms: fleet.vms,
          status: { intervalSeconds },
        },
        [],
        main,
      );
      try {
        await worker.ready;
        await sleep(intervalSeconds * 1000 + 2000); // past the first polls (the slow queries)
        const before = procReading(worker.pid).cpuSeconds;
        await sleep(seconds * 1000);
        const used = procReading(worker.pid).cpuSeconds - before;
        const us = (used * 1e6) / ((count * seconds) / intervalSeconds);
        perPoll[which].push(us);
        process.stderr.write(`  round ${round + 1} ${which}: ${us.toFixed(0)} µs of CPU per poll\n`);
      } finally {
        await worker.stop();
      }
    });
  } finally {
    await close();
  }
  const build = median(perPoll.build);
  const base = median(perPoll.baseline);
  // At the row's load (1,000 agents every 30 s), µs per poll → % of a core.
  const pct = (us: number) => ((us * count) / 30 / 1e6) * 100;
  return {
    id: "idle-cost",
    title: "4. cost of keeping status, 1,000 agents (build vs baseline)",
    goal: "under 2% of one core at 1,000 agents every 30 s",
    pass: pct(build) < 2,
    figures: { buildUsPerPoll: build, baselineUsPerPoll: base, ratio: build / base },
    table: [
      [
        `build, ${rounds} rounds of ${seconds} s, polls every ${intervalSeconds} s`,
        `median ${build.toFixed(0)} µs per poll (${perPoll.build.map((x) => x.toFixed(0)).join(", ")})`,
        `**${(build / base).toFixed(2)}× the baseline**; ${pct(build).toFixed(2)}% of a core at the row's load`,
      ],
      [
        `baseline: ${describeBuild(baseline)}`,
        `median ${base.toFixed(0)} µs per poll (${perPoll.baseline.map((x) => x.toFixed(0)).join(", ")})`,
        `${pct(base).toFixed(2)}% of a core at the row's load`,
      ],
    ],
    notes: [],
  };
}

export async function idleCost(options: RowOptions): Promise<RowResult> {
  if (workerBuilds.baseline) return idleCostAB(options, workerBuilds.baseline);
  const seconds = options.quick ? 35 : 65;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-cost-"));
  const broker = await startBenchBroker();
  const figures: Record<string, number | string> = { seconds, runtime: runtimeNote };
  const table: Array<readonly [string, string, string]> = [];
  let pass = true;
  try {
    for (const count of [100, 1000]) {
      const fleet = await startFakeFleet(dir, count, `c${count}-`);
      const firstStatuses = everyStatusOnline(broker.url, `cost${count}`, count);
      const worker = await spawnWorker(dir, `cost-${count}`, {
        worker: { id: `bench-cost-${count}` },
        mqtt: { url: broker.url, baseTopic: `cost${count}` },
        vms: fleet.vms,
        status: { intervalSeconds: 30 },
      });
      try {
        await worker.ready;
        // Steady state: the first poll of every VM (with the queries asked once per 5 minutes) is start-up's
        // cost (row 5), not the cost of keeping status.
        await firstStatuses;
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
        `Worker run as ${runtimeNote}, log level info; CPU from utime+stime in /proc/<pid>/stat, RSS from VmRSS, measured from the moment every VM has published its first status (steady state: the first polls are start-up, row 5).`,
      ],
    };
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resolves once `count` VMs under `base` have published a status with their agent online. */
async function everyStatusOnline(url: string, base: string, count: number): Promise<void> {
  const watcher = await mqtt.connectAsync(url, { protocolVersion: 5 });
  try {
    await new Promise<void>((resolve) => {
      const online = new Set<string>();
      watcher.on("message", (topic, payload) => {
        if (payload.length === 0) return;
        const status = JSON.parse(payload.toString()) as { agent?: string };
        if (status.agent === "online") online.add(topic);
        if (online.size >= count) resolve();
      });
      void watcher.subscribeAsync(`${base}/+/status`, { qos: 1 });
    });
  } finally {
    await watcher.endAsync(true);
  }
}
