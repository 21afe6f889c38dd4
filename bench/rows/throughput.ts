/**
 * Row 2: requests/s through one worker serving 1,000 fake agents (in a child process), at saturation (a
 * closed loop keeping a window of requests in flight), every reply checked (its id, ok, and VM); then the
 * latency at half that rate (an open loop, paced every millisecond), against the bare relay's at the same rate.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import {
  alternateBuilds,
  benchFleet,
  CpuAccount,
  describeBuild,
  LoadClient,
  procReading,
  sleep,
  spawnWorker,
  startBenchBroker,
  startFakeFleet,
  startRelay,
  workerBuilds,
} from "../lib.js";
import { fmt, median, summarize } from "../stats.js";
import type { RowOptions, RowResult } from "./types.js";

const VMS = 1000;
const GOAL = 10_000;
/** CPU time per request that two cores give at the goal's rate. */
const BUDGET_US = (2 * 1e6) / GOAL;

function prefixed(prefix: string, cpu: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(cpu).map(([name, us]) => [prefix + name, us]));
}

function describeCpu(cpu: Record<string, number>): string {
  return Object.entries(cpu)
    .map(([name, us]) => `${name} ${us.toFixed(0)}`)
    .join(", ");
}

async function closedLoop(
  load: LoadClient,
  window: number,
  seconds: number,
): Promise<{ rate: number; completed: number }> {
  let running = true;
  let completed = 0;
  let next = 0;
  const lanes: Promise<void>[] = [];
  const started = performance.now();
  for (let lane = 0; lane < window; lane++) {
    lanes.push(
      (async () => {
        while (running) {
          try {
            await load.request(`vm${next++ % VMS}`);
            completed++;
          } catch {
            // counted by the load client (failures, lost)
          }
        }
      })(),
    );
  }
  await sleep(seconds * 1000);
  running = false;
  const elapsed = (performance.now() - started) / 1000;
  const counted = completed;
  await Promise.all(lanes);
  return { rate: counted / elapsed, completed: counted };
}

async function openLoop(load: LoadClient, rate: number, seconds: number): Promise<number[]> {
  const latencies: Promise<number>[] = [];
  const started = performance.now();
  let sent = 0;
  let next = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; sent < due; sent++) latencies.push(load.request(`vm${next++ % VMS}`).catch(() => Number.NaN));
    // Every millisecond (as often as a timer fires): a coarser pacing sends bursts, and a request's wait
    // behind the rest of its burst would be measured as the worker's latency (10 ms bursts at ~7,000/s: a
    // median of ~4.5 ms, most of it the burst draining).
    await sleep(1);
  }
  return (await Promise.all(latencies)).filter((ms) => !Number.isNaN(ms));
}

/**
 * With `--baseline FILE` (see bench/lib.ts workerBuilds): the two builds take turns on the same broker
 * and fleet, `rounds` times each, so a noisy neighbour hits both alike; reports both rates.
 */
async function throughputAB(options: RowOptions, baseline: string): Promise<RowResult> {
  const seconds = options.quick ? 3 : 6;
  const rounds = options.quick ? 3 : 5;
  const window = 500;
  const { dir, broker, fleet, close } = await benchFleet("tput-ab", VMS);
  const rates: Record<"build" | "baseline", number[]> = { build: [], baseline: [] };
  const cpu: Record<"build" | "baseline", number[]> = { build: [], baseline: [] };
  let failures = 0;
  try {
    await alternateBuilds(rounds, baseline, async (which, main, round) => {
      const worker = await spawnWorker(
        dir,
        `tput-${which}`,
        {
          worker: { id: "bench-throughput" },
          mqtt: { url: broker.url, baseTopic: "bench" },
          vms: fleet.vms,
          log: { level: "warn" },
        },
        [],
        main,
      );
      try {
        await worker.ready;
        const load = await LoadClient.connect(broker.url, "bench", "ping");
        await closedLoop(load, window, 1);
        load.failures = 0;
        load.lost = 0;
        const cpuBefore = procReading(worker.pid).cpuSeconds;
        const { rate, completed } = await closedLoop(load, window, seconds);
        const cpuUs = ((procReading(worker.pid).cpuSeconds - cpuBefore) * 1e6) / completed;
        failures += load.failures + load.lost;
        rates[which].push(rate);
        cpu[which].push(cpuUs);
        process.stderr.write(
          `  round ${round + 1} ${which}: ${Math.round(rate)}/s, worker CPU ${cpuUs.toFixed(0)} µs/request\n`,
        );
        await load.close();
      } finally {
        await worker.stop();
      }
    });
  } finally {
    await close();
  }
  const build = median(rates.build);
  const base = median(rates.baseline);
  const buildCpu = median(cpu.build);
  const baseCpu = median(cpu.baseline);
  const fmtRates = (xs: number[]) => xs.map((x) => Math.round(x).toLocaleString("en")).join(", ");
  return {
    id: "throughput",
    title: "2. throughput through one worker, 1,000 fake agents (build vs baseline)",
    goal: `${GOAL.toLocaleString("en")} requests/s at saturation, every reply checked`,
    pass: build >= GOAL && failures === 0,
    figures: {
      buildMedianPerSecond: build,
      baselineMedianPerSecond: base,
      ratio: build / base,
      buildCpuUsPerRequest: buildCpu,
      baselineCpuUsPerRequest: baseCpu,
      failures,
    },
    table: [
      [
        `build, ${rounds} rounds of ${seconds} s`,
        `median ${Math.round(build)}/s (${fmtRates(rates.build)})`,
        `**${(build / base).toFixed(2)}× the baseline**, ${(build / GOAL).toFixed(2)}× the goal`,
      ],
      [
        `baseline: ${describeBuild(baseline)}`,
        `median ${Math.round(base)}/s (${fmtRates(rates.baseline)})`,
        "",
      ],
    ],
    notes: [
      `Worker CPU (utime+stime) per request, median: build ${buildCpu.toFixed(0)} µs, baseline ${baseCpu.toFixed(0)} µs (${(buildCpu / baseCpu).toFixed(2)}×). ${failures} bad or lost replies in all.`,
    ],
  };
}

export async function throughput(options: RowOptions): Promise<RowResult> {
  if (workerBuilds.baseline) return throughputAB(options, workerBuilds.baseline);
  const seconds = options.quick ? 4 : 10;
  const window = 500; // under mosquitto's max_queued_messages (1000): more in flight and the broker drops QoS 1 messages
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-tput-"));
  const broker = await startBenchBroker();
  const fleet = await startFakeFleet(dir, VMS);
  const worker = await spawnWorker(dir, "throughput", {
    worker: { id: "bench-throughput" },
    mqtt: { url: broker.url, baseTopic: "bench" },
    vms: fleet.vms,
    log: { level: "warn" },
  });
  try {
    await worker.ready;
    const load = await LoadClient.connect(broker.url, "bench", "ping");
    await closedLoop(load, window, options.quick ? 2 : 4); // warm-up (also lets the first status polls pass)
    process.stderr.write(`  warm-up: ${load.failures} bad, ${load.lost} lost ${load.lastFailure}\n`);
    load.failures = 0;
    load.lost = 0;
    const account = CpuAccount.start({ worker: worker.pid, broker: broker.pid, "fake agents": fleet.pid });
    const saturated = await closedLoop(load, window, seconds);
    const cpu = account.perRequest(saturated.completed);
    await sleep(1000);
    const half = summarize(await openLoop(load, saturated.rate / 2, seconds));
    const failures = load.failures + load.lost;
    await load.close();
    // The same load through a bare relay process on the same broker, no worker and no agents: what this
    // machine's broker and load generator can carry at all.
    const relay = await startRelay(broker.url, "ceil");
    const relayLoad = await LoadClient.connect(broker.url, "ceil", "ping");
    await closedLoop(relayLoad, window, 1);
    const relayAccount = CpuAccount.start({ relay: relay.pid, broker: broker.pid });
    const ceiling = await closedLoop(relayLoad, window, seconds);
    const relayCpu = relayAccount.perRequest(ceiling.completed);
    await sleep(1000);
    const relayHalf = summarize(await openLoop(relayLoad, saturated.rate / 2, seconds));
    await relayLoad.close();
    await relay.stop();
    const ratio = saturated.rate / GOAL;
    // What the rest of the machine costs per request, and the rate two cores would allow if the worker
    // cost no more than the bare relay process.
    const apparatusUs = cpu.total! - cpu.worker!;
    const relayBoundPerSecond = (2 * 1e6) / (apparatusUs + relayCpu.relay!);
    return {
      id: "throughput",
      title: "2. throughput through one worker, 1,000 fake agents",
      goal: `${GOAL.toLocaleString("en")} requests/s at saturation, every reply checked`,
      pass: saturated.rate >= GOAL && failures === 0,
      figures: {
        vms: VMS,
        window,
        seconds,
        saturationPerSecond: saturated.rate,
        saturationRequests: saturated.completed,
        failedReplies: failures,
        halfRatePerSecond: saturated.rate / 2,
        halfRateMedianMs: half.median,
        halfRateP99Ms: half.p99,
        relayHalfRateMedianMs: relayHalf.median,
        relayHalfRateP99Ms: relayHalf.p99,
        ratioToGoal: ratio,
        relayCeilingPerSecond: ceiling.rate,
        ratioToRelayCeiling: saturated.rate / ceiling.rate,
        apparatusCpuUsPerRequest: apparatusUs,
        relayBoundPerSecond,
        ...prefixed("cpuUsPerRequest.", cpu),
        ...prefixed("relayCpuUsPerRequest.", relayCpu),
      },
      table: [
        [
          `\`ping\` at saturation (${window} in flight, ${seconds} s)`,
          `${Math.round(saturated.rate).toLocaleString("en")} requests/s, ${failures} bad replies`,
          `**${ratio.toFixed(2)}× the goal**`,
        ],
        [
          "the same load through a bare relay process (no worker, no agents): the broker's and load generator's ceiling",
          `${Math.round(ceiling.rate).toLocaleString("en")} requests/s`,
          `the worker reaches ${(saturated.rate / ceiling.rate).toFixed(2)}× of it`,
        ],
        [
          `latency at half that rate (${Math.round(saturated.rate / 2).toLocaleString("en")}/s, ${half.n} requests)`,
          `median ${fmt(half.median)}, p99 ${fmt(half.p99)}`,
          `${(half.median / relayHalf.median).toFixed(2)}× (p99 ${(half.p99 / relayHalf.p99).toFixed(2)}×) the bare relay's`,
        ],
        ["the bare relay at the same rate", `median ${fmt(relayHalf.median)}, p99 ${fmt(relayHalf.p99)}`, ""],
      ],
      notes: [
        `CPU per request (user + system, µs) at saturation: ${describeCpu(cpu)}. Through the bare relay: ${describeCpu(relayCpu)}. The two cores give ${BUDGET_US} µs of CPU per request at ${GOAL.toLocaleString("en")}/s: the broker, the fake agents and the load generator alone take ${apparatusUs.toFixed(0)} µs of it here, so a worker as cheap as the bare relay (${relayCpu.relay?.toFixed(0)} µs, which does no more than take a request and publish a reply) would top out near ${Math.round(relayBoundPerSecond).toLocaleString("en")}/s.`,
        "Broker, worker, the 1,000 fake agents (one child process) and the load generator share the 2 cores. The worker logs at `warn` here (an audit line per command at `info` would be measured too).",
      ],
    };
  } finally {
    await worker.stop();
    await fleet.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
