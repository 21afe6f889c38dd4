/**
 * Row 5: start-up (process start → every VM's first status published, 100 agents). With `--baseline FILE`
 * the two builds take turns, each start on its own base topic.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import {
  alternateBuilds,
  describeBuild,
  runtimeNote,
  sleep,
  spawnWorker,
  startBenchBroker,
  startFakeFleet,
  workerBuilds,
} from "../lib.js";
import { median } from "../stats.js";
import type { RowOptions, RowResult } from "./types.js";

const COUNT = 100;

export async function startup(options: RowOptions): Promise<RowResult> {
  const repeats = options.quick ? 2 : 5;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-start-"));
  const broker = await startBenchBroker();
  const fleet = await startFakeFleet(dir, COUNT);
  /** One start of a build (main: its main.js; undefined: this build), in ms. */
  const startOnce = async (name: string, main: string | undefined): Promise<number> => {
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
    await watcher.subscribeAsync(`${name}/+/status`, { qos: 1 });
    const config = {
      worker: { id: `bench-${name}` },
      mqtt: { url: broker.url, baseTopic: name },
      vms: fleet.vms,
    };
    const worker = await spawnWorker(dir, name, config, [], main);
    const deadline = performance.now() + 20_000;
    while (seen.size < COUNT && performance.now() < deadline) await sleep(5);
    await worker.stop();
    await watcher.endAsync(true);
    if (seen.size < COUNT) throw new Error(`only ${seen.size} of ${COUNT} statuses within 20 s`);
    return last - worker.spawnedAt;
  };
  try {
    const baseline = workerBuilds.baseline;
    if (baseline) {
      const samples: Record<"build" | "baseline", number[]> = { build: [], baseline: [] };
      await alternateBuilds(repeats, baseline, async (which, main, round) => {
        const ms = await startOnce(`start-${which}-${round}`, main);
        samples[which].push(ms);
        process.stderr.write(`  round ${round + 1} ${which}: ${(ms / 1000).toFixed(2)} s\n`);
      });
      const build = median(samples.build);
      const base = median(samples.baseline);
      return {
        id: "startup",
        title: "5. start-up (build vs baseline)",
        goal: "process start → every VM's first status published, 100 agents: under 2 s",
        pass: build < 2000,
        figures: { agents: COUNT, repeats, medianMs: build, baselineMedianMs: base, ratio: build / base },
        table: [
          [
            `this build, spawn → the 100th \`online\` status (${repeats} starts)`,
            `median ${(build / 1000).toFixed(2)} s`,
            `**${(build / base).toFixed(2)}× the baseline**`,
          ],
          [`baseline: ${describeBuild(baseline)}`, `median ${(base / 1000).toFixed(2)} s`, ""],
        ],
        notes: [`Worker run as ${runtimeNote}; node's own start-up is included; the builds take turns.`],
      };
    }
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) samples.push(await startOnce(`start${r}`, undefined));
    const sorted = [...samples].sort((a, b) => a - b);
    const middle = sorted[Math.floor(sorted.length / 2)]!;
    return {
      id: "startup",
      title: "5. start-up",
      goal: "process start → every VM's first status published, 100 agents: under 2 s",
      pass: middle < 2000,
      figures: { agents: COUNT, repeats, medianMs: middle, maxMs: sorted.at(-1)!, runtime: runtimeNote },
      table: [
        [
          `spawn → the 100th \`online\` status received (${repeats} starts)`,
          `median ${(middle / 1000).toFixed(2)} s, worst ${(sorted.at(-1)! / 1000).toFixed(2)} s`,
          `**${(middle / 2000).toFixed(2)}×** the goal`,
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
