/**
 * Row 3 with `--baseline FILE`: the two builds take turns serving the same real qemu-ga, each answering
 * `call all status` through its own CLI; the medians and their ratio are the row.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type RealAgent, startRealAgent } from "../../test/helpers/qemu-ga.js";
import { alternateBuilds, describeBuild, spawnWorker, startBenchBroker } from "../lib.js";
import { median } from "../stats.js";
import { timeCall } from "./fleet-call.js";
import type { RowOptions, RowResult } from "./types.js";

export async function fleetQueryAB(options: RowOptions, baseline: string): Promise<RowResult> {
  const count = options.quick ? 50 : 200;
  const rounds = options.quick ? 2 : 4;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-fleet-ab-"));
  const broker = await startBenchBroker();
  const agents: RealAgent[] = [];
  const times: Record<"build" | "baseline", number[]> = { build: [], baseline: [] };
  try {
    for (let start = 0; start < count; start += 20) {
      const batch = Array.from({ length: Math.min(20, count - start) }, () => startRealAgent());
      agents.push(...(await Promise.all(batch)));
    }
    await alternateBuilds(rounds, baseline, async (which, main, round) => {
      const worker = await spawnWorker(
        dir,
        `fleet-${which}`,
        {
          worker: { id: "bench-fleet-ab" },
          mqtt: { url: broker.url },
          vms: agents.map((agent, i) => ({ name: `vm${i}`, socket: agent.socket })),
          log: { level: "warn" },
        },
        [],
        main,
      );
      try {
        await worker.ready;
        // Warm-up: connects every agent and fills the capability caches. An agent still letting go of the
        // other build's connection may not answer the first time.
        for (let attempt = 0; attempt < 5; attempt++) {
          if ((await timeCall(broker.url, 30, main)).replies === count) break;
        }
        for (let i = 0; i < 2; i++) {
          const { ms, replies } = await timeCall(broker.url, 30, main);
          if (replies !== count) throw new Error(`call all status (${which}): ${replies} of ${count} ok`);
          times[which].push(ms);
        }
        process.stderr.write(
          `  round ${round + 1} ${which}: ${times[which]
            .slice(-2)
            .map((ms) => ms.toFixed(0))
            .join(", ")} ms\n`,
        );
      } finally {
        // The agents serve one client at a time: each build lets go of them before the other starts.
        await worker.stop();
      }
    });
    const build = median(times.build);
    const base = median(times.baseline);
    return {
      id: "fleet-query",
      title: `3. fleet query: status of ${count} real qemu-ga (build vs baseline)`,
      goal: "faster than the shell loop (ratio < 1); here: the build against the baseline",
      pass: build <= base * 1.05,
      figures: {
        realAgents: count,
        rounds,
        callAllMedianMs: build,
        baselineMedianMs: base,
        ratio: build / base,
      },
      table: [
        [
          `this build: \`call all status --json\` (${count} real qemu-ga)`,
          `median ${build.toFixed(0)} ms`,
          `**${(build / base).toFixed(2)}× the baseline**`,
        ],
        [`baseline: ${describeBuild(baseline)}`, `median ${base.toFixed(0)} ms`, ""],
      ],
      notes: [
        "Each build's own CLI and worker; two timed calls per turn after a warm-up; the builds take turns.",
      ],
    };
  } finally {
    await Promise.all(agents.map((agent) => agent.dispose()));
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
