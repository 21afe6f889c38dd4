/**
 * Row 1: `ping` end to end (client → broker → worker → real qemu-ga → worker → broker → client) against its
 * floor measured in the same run: a bare echo relay on the same broker and MQTT library (republishes each
 * request to the reply topic, no parsing) plus a bare socket's guest-ping round trip to a real qemu-ga.
 * The worker holds its agent's socket and qemu-ga serves one client at a time, so the bare socket talks to
 * a second qemu-ga of the same binary. The three are measured in alternating blocks.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import mqtt from "mqtt";
import { startRealAgent } from "../../test/helpers/qemu-ga.js";
import { bareAgentSocket } from "../bare-agent.mjs";
import {
  describeBuild,
  LoadClient,
  noDelay,
  procReading,
  root,
  spawnWorker,
  startBenchBroker,
  startRelay,
  workerBuilds,
} from "../lib.js";
import { fmt, summarize } from "../stats.js";
import type { RowOptions, RowResult } from "./types.js";

/**
 * The relay runs in a process of its own, as the worker does: the floor then has the same processes to
 * wake as the end-to-end path (client, broker, relay), not a relay sharing the client's event loop.
 */
async function echoRelay(
  url: string,
  agentSocket?: string,
): Promise<{ pid: number; roundTrip: () => Promise<void>; close: () => Promise<void> }> {
  const child = await startRelay(url, agentSocket === undefined ? undefined : { agent: agentSocket });
  const client = await mqtt.connectAsync(url, { protocolVersion: 5 });
  noDelay(client);
  await client.subscribeAsync("echo/reply/ping", { qos: 1 });
  let waiting: (() => void) | undefined;
  client.on("message", () => waiting?.());
  let n = 0;
  return {
    pid: child.pid,
    roundTrip: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        client.publish("echo/cmd/ping", JSON.stringify({ id: `e${++n}` }), { qos: 1 });
      }),
    close: async () => {
      await client.endAsync(true);
      await child.stop();
    },
  };
}

export async function latency(options: RowOptions): Promise<RowResult> {
  const iterations = options.quick ? 600 : 3000;
  const block = 100;
  const warmup = options.quick ? 100 : 300;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-latency-"));
  const broker = await startBenchBroker();
  const agentForWorker = await startRealAgent();
  const agentForPatched = await startRealAgent();
  const agentForBare = await startRealAgent();
  const agentForBridge = await startRealAgent();
  const config = (base: string, socket: string) => ({
    worker: { id: `bench-${base}` },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [{ name: "vm0", socket }],
    status: { intervalSeconds: 3600 },
  });
  const worker = await spawnWorker(dir, "latency", config("bench", agentForWorker.socket));
  // The second worker: the TCP_NODELAY control, or with `--baseline FILE` another build (before/after).
  const baseline = workerBuilds.baseline;
  const patched = baseline
    ? await spawnWorker(dir, "latency-baseline", config("benchnd", agentForPatched.socket), [], baseline)
    : await spawnWorker(dir, "latency-nodelay", config("benchnd", agentForPatched.socket), [
        "--import",
        path.join(root, "bench/nodelay-preload.mjs"),
      ]);
  try {
    await worker.ready;
    await patched.ready;
    const load = await LoadClient.connect(broker.url, "bench", "ping");
    const loadPatched = await LoadClient.connect(broker.url, "benchnd", "ping");
    const relay = await echoRelay(broker.url);
    const bridge = await echoRelay(broker.url, agentForBridge.socket);
    const bare = await bareAgentSocket(agentForBare.socket);
    const e2e: number[] = [];
    const e2ePatched: number[] = [];
    const echo: number[] = [];
    const agent: number[] = [];
    const bridged: number[] = [];
    for (let i = 0; i < warmup; i++) {
      await bridge.roundTrip();
      await load.request("vm0");
      await loadPatched.request("vm0");
      await relay.roundTrip();
      await bare.ping();
    }
    // CPU seconds each process spent on its blocks: one request at a time, so this is the work on the
    // request's own path (and what follows it, the audit event), with no batching to share it.
    const cpu = { worker: 0, patched: 0, relay: 0, bridge: 0 };
    const timed = async (key: keyof typeof cpu, pid: number, work: () => Promise<void>) => {
      const before = procReading(pid).cpuSeconds;
      await work();
      cpu[key] += procReading(pid).cpuSeconds - before;
    };
    for (let done = 0; done < iterations; done += block) {
      await timed("worker", worker.pid, async () => {
        for (let i = 0; i < block; i++) e2e.push(await load.request("vm0"));
      });
      await timed("patched", patched.pid, async () => {
        for (let i = 0; i < block; i++) e2ePatched.push(await loadPatched.request("vm0"));
      });
      await timed("relay", relay.pid, async () => {
        for (let i = 0; i < block; i++) {
          const t = performance.now();
          await relay.roundTrip();
          echo.push(performance.now() - t);
        }
      });
      for (let i = 0; i < block; i++) {
        const t = performance.now();
        await bare.ping();
        agent.push(performance.now() - t);
      }
      await timed("bridge", bridge.pid, async () => {
        for (let i = 0; i < block; i++) {
          const t = performance.now();
          await bridge.roundTrip();
          bridged.push(performance.now() - t);
        }
      });
    }
    bare.close();
    await relay.close();
    await bridge.close();
    await load.close();
    await loadPatched.close();
    const s = summarize(e2e);
    const p = summarize(e2ePatched);
    const r = summarize(echo);
    const a = summarize(agent);
    const b = summarize(bridged);
    const floorMedian = r.median + a.median;
    const floorP99 = r.p99 + a.p99;
    const ratioMedian = s.median / floorMedian;
    const ratioP99 = s.p99 / floorP99;
    const patchedMedian = p.median / floorMedian;
    const patchedP99 = p.p99 / floorP99;
    const perRequestUs = (seconds: number) => (seconds * 1e6) / iterations;
    return {
      id: "latency",
      title: "1. ping latency end to end vs its floor",
      goal: "end to end / floor ≤ 1.3 at the median and at p99",
      pass: ratioMedian <= 1.3 && ratioP99 <= 1.3,
      figures: {
        samples: s.n,
        e2eMedianMs: s.median,
        e2eP99Ms: s.p99,
        echoRelayMedianMs: r.median,
        echoRelayP99Ms: r.p99,
        agentSocketMedianMs: a.median,
        agentSocketP99Ms: a.p99,
        floorMedianMs: floorMedian,
        floorP99Ms: floorP99,
        ratioMedian,
        ratioP99,
        noDelayMedianMs: p.median,
        noDelayP99Ms: p.p99,
        noDelayRatioMedian: patchedMedian,
        noDelayRatioP99: patchedP99,
        workerCpuUsPerRequest: perRequestUs(cpu.worker),
        secondWorkerCpuUsPerRequest: perRequestUs(cpu.patched),
        relayCpuUsPerRequest: perRequestUs(cpu.relay),
        bareBridgeMedianMs: b.median,
        bareBridgeP99Ms: b.p99,
        bridgeCpuUsPerRequest: perRequestUs(cpu.bridge),
      },
      table: [
        [
          "`ping` end to end (client → worker → qemu-ga → client), worker as shipped",
          `${fmt(s.median)} (p99 ${fmt(s.p99)})`,
          `**${ratioMedian.toFixed(2)}× (p99 ${ratioP99.toFixed(2)}×)** of the floor`,
        ],
        [
          baseline
            ? `the same, baseline: ${describeBuild(baseline)}`
            : "the same, worker with TCP_NODELAY on its broker socket (bench/nodelay-preload.mjs)",
          `${fmt(p.median)} (p99 ${fmt(p.p99)})`,
          `${patchedMedian.toFixed(2)}× (p99 ${patchedP99.toFixed(2)}×) of the floor`,
        ],
        ["bare echo relay on the same broker (MQTT.js)", `${fmt(r.median)} (p99 ${fmt(r.p99)})`, ""],
        ["bare socket `guest-ping` to qemu-ga", `${fmt(a.median)} (p99 ${fmt(a.p99)})`, ""],
        ["floor = relay + socket", `${fmt(floorMedian)} (p99 ${fmt(floorP99)})`, "1×"],
        [
          "bare bridge: the echo relay calling `guest-ping` on a qemu-ga socket before it replies (bench/echo-relay.mjs --agent)",
          `${fmt(b.median)} (p99 ${fmt(b.p99)})`,
          `${(b.median / floorMedian).toFixed(2)}× (p99 ${(b.p99 / floorP99).toFixed(2)}×) of the floor; the worker ${(s.median / b.median).toFixed(2)}× (p99 ${(s.p99 / b.p99).toFixed(2)}×) of it`,
        ],
      ],
      notes: [
        "The broker runs with `set_tcp_nodelay true` and the bench's own clients set TCP_NODELAY. The worker sets TCP_NODELAY on its broker socket itself (src/mqtt/bus.ts): before that, found by this row, its reply PUBLISH right after a PUBACK waited for the broker's delayed ACK, ~40 ms on loopback (44 ms median end to end). The second line forces the option from outside with a preload, as a control: equal to the first, so the worker's own setting works.",
        `CPU per request (user + system, one at a time, /proc): the worker ${perRequestUs(cpu.worker).toFixed(0)} µs, the ${baseline ? "baseline" : "TCP_NODELAY"} worker ${perRequestUs(cpu.patched).toFixed(0)} µs, the echo relay ${perRequestUs(cpu.relay).toFixed(0)} µs, the bare bridge ${perRequestUs(cpu.bridge).toFixed(0)} µs (counted in 10 ms ticks per block of ${block}).`,
        `${s.n} requests each, one at a time, in alternating blocks of ${block}, after ${warmup} warm-up rounds; the floor's p99 is the sum of the two p99s.`,
      ],
    };
  } finally {
    await worker.stop();
    await patched.stop();
    await agentForPatched.dispose();
    await agentForWorker.dispose();
    await agentForBare.dispose();
    await agentForBridge.dispose();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
