/**
 * Row 3: a fleet query. `qga-mqtt call all status` to 200 real qemu-ga (unix-listen, one process each)
 * through one worker, against a shell loop running socat per VM with the sync and the commands the status
 * snapshot reads; then `call all status` to 1,000 fake agents over 3 workers. Wall times of the commands
 * as a person runs them (process start included).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { type RealAgent, startRealAgent } from "../../test/helpers/qemu-ga.js";
import {
  type BenchWorker,
  cliArgv,
  spawnWorker,
  startBenchBroker,
  startFakeFleet,
  workerBuilds,
} from "../lib.js";
import { fmt, summarize } from "../stats.js";
import { timeCall } from "./fleet-call.js";
import { fleetQueryAB } from "./fleet-query-ab.js";
import type { RowOptions, RowResult } from "./types.js";

const run = promisify(execFile);

/** What the status snapshot reads, as a person would ask for it by hand. */
const STATUS_COMMANDS = [
  "guest-info",
  "guest-get-host-name",
  "guest-get-osinfo",
  "guest-get-timezone",
  "guest-network-get-interfaces",
  "guest-get-fsinfo",
  "guest-get-users",
  "guest-get-vcpus",
  "guest-get-load",
  "guest-get-cpustats",
  "guest-get-disks",
  "guest-get-time",
];

export async function fleetQuery(options: RowOptions): Promise<RowResult> {
  if (workerBuilds.baseline) return fleetQueryAB(options, workerBuilds.baseline);
  const realCount = options.quick ? 50 : 200;
  const repeats = options.quick ? 2 : 4;
  const fakeCount = 1000;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-fleet-"));
  const broker = await startBenchBroker();
  const agents: RealAgent[] = [];
  const workers: BenchWorker[] = [];
  try {
    for (let start = 0; start < realCount; start += 20) {
      const batch = Array.from({ length: Math.min(20, realCount - start) }, () => startRealAgent());
      agents.push(...(await Promise.all(batch)));
    }
    const worker = await spawnWorker(dir, "fleet-real", {
      worker: { id: "bench-real" },
      mqtt: { url: broker.url },
      vms: agents.map((agent, i) => ({ name: `vm${i}`, socket: agent.socket })),
      log: { level: "warn" },
    });
    workers.push(worker);
    await worker.ready;
    await timeCall(broker.url, 30); // warm-up: connects every agent and fills the caches of capabilities
    const calls: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const { ms, replies } = await timeCall(broker.url, 30);
      if (replies !== realCount) throw new Error(`call all status: ${replies} of ${realCount} ok`);
      calls.push(ms);
    }
    // The agents serve one client at a time: the worker lets go of them before the shell loop runs.
    await worker.stop();
    const script = path.join(dir, "loop.sh");
    const requests = STATUS_COMMANDS.map((command) => `{"execute":"${command}"}`).join("");
    await writeFile(
      script,
      [
        "#!/bin/sh",
        "# One socat per VM: the sync, then the commands; -t: how long socat waits for replies after its input ends.",
        'for sock in "$@"; do',
        `  printf '\\377{"execute":"guest-sync-delimited","arguments":{"id":1}}${requests}' | socat -t 0.1 - "UNIX-CONNECT:$sock"`,
        "done",
        "",
      ].join("\n"),
    );
    const loops: number[] = [];
    for (let i = 0; i <= repeats; i++) {
      const started = performance.now();
      const { stdout } = await run("sh", [script, ...agents.map((agent) => agent.socket)], {
        maxBuffer: 256 * 2 ** 20,
        encoding: "latin1",
      });
      const ms = performance.now() - started;
      const returns = (stdout.match(/"(return|error)"/g) ?? []).length; // a command the agent lacks answers an error
      if (returns < realCount * (STATUS_COMMANDS.length + 1) * 0.99)
        throw new Error(`the socat loop got ${returns} replies`);
      if (i > 0) loops.push(ms); // the first is the warm-up
    }
    await Promise.all(agents.map((agent) => agent.dispose()));
    agents.length = 0;

    // 1,000 fake agents over 3 workers.
    const fleet = await startFakeFleet(dir, fakeCount, "fake");
    try {
      const share = Math.ceil(fakeCount / 3);
      for (let w = 0; w < 3; w++) {
        const sockets = fleet.sockets.slice(w * share, (w + 1) * share);
        workers.push(
          await spawnWorker(dir, `fleet-fake-${w}`, {
            worker: { id: `bench-fake-${w}` },
            mqtt: { url: broker.url, baseTopic: "fake" },
            vms: sockets.map((socket, i) => ({ name: `fake${w * share + i}`, socket })),
            log: { level: "warn" },
          }),
        );
      }
      await Promise.all(workers.slice(1).map((w) => w.ready));
      const config = path.join(dir, "caller.yaml");
      await writeFile(config, "mqtt:\n  baseTopic: fake\n");
      const fakeCall = async () => {
        const started = performance.now();
        const { stdout } = await run(
          process.execPath,
          [...cliArgv(), "call", "all", "status", "--json", "--url", broker.url, "--config", config],
          { maxBuffer: 256 * 2 ** 20 },
        );
        const ok = stdout.split("\n").filter((line) => line.includes('"ok":true')).length;
        if (ok !== fakeCount) throw new Error(`call all status to fakes: ${ok} of ${fakeCount} ok`);
        return performance.now() - started;
      };
      await sleepUntilSettled();
      await fakeCall();
      const fakes: number[] = [];
      for (let i = 0; i < repeats; i++) fakes.push(await fakeCall());
      const c = summarize(calls);
      const l = summarize(loops);
      const f = summarize(fakes);
      const ratio = c.median / l.median;
      return {
        id: "fleet-query",
        title: `3. fleet query: status of ${realCount} real qemu-ga`,
        goal: "faster than the shell loop (ratio < 1); no absolute goal",
        pass: ratio < 1,
        figures: {
          realAgents: realCount,
          repeats,
          callAllMedianMs: c.median,
          socatLoopMedianMs: l.median,
          ratioCallToLoop: ratio,
          fakeAgents: fakeCount,
          fakeWorkers: 3,
          fakeCallAllMedianMs: f.median,
          fakeCallAllMaxMs: Math.max(...fakes),
        },
        table: [
          [
            `\`qga-mqtt call all status --json\` (${realCount} real qemu-ga, one worker)`,
            fmt(c.median),
            `**${ratio.toFixed(3)}×** the loop`,
          ],
          [
            `shell loop: \`socat\` per VM, sync + the ${STATUS_COMMANDS.length} commands status reads`,
            fmt(l.median),
            "1×",
          ],
          [`\`call all status\` to ${fakeCount} fake agents over 3 workers`, fmt(f.median), ""],
        ],
        notes: [
          `Medians of ${repeats} runs after a warm-up; wall time of the command including its process start. socat runs with \`-t 0.1\` (its default 0.5 s wait after input ends would make the loop 5× slower; every reply was checked to arrive). The status snapshot itself is the worker's fresh poll of each VM.`,
        ],
      };
    } finally {
      await fleet.stop();
    }
  } finally {
    for (const worker of workers) await worker.stop();
    await Promise.all(agents.map((agent) => agent.dispose()));
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The first status polls after the workers start run at once; let them pass. */
async function sleepUntilSettled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 3000));
}
