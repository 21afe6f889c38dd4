/**
 * Row 8: a group copy. One `qga-mqtt cp ./f all:/path` of a 16 MiB file to 50 real qemu-ga (`--quick`: 10)
 * through one worker, against the same number of sequential single-VM `cp` runs of the same file; wall
 * times of the commands as a person runs them (process start included).
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { RealAgent } from "../../test/helpers/qemu-ga.js";
import { type BenchWorker, spawnWorker, startBenchBroker } from "../lib.js";
import { cpWorkerConfig, mib, sha256File, startFileAgents, timeCp, writeRandomFile } from "./cp-common.js";
import type { RowOptions, RowResult } from "./types.js";

const BYTES = 16 * 2 ** 20;

export async function groupCopy(options: RowOptions): Promise<RowResult> {
  const count = options.quick ? 10 : 50;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-bench-group-"));
  const data = path.join(dir, "data");
  await mkdir(data);
  const broker = await startBenchBroker();
  const agents: RealAgent[] = [];
  let worker: BenchWorker | undefined;
  try {
    const agentsStarted = performance.now();
    await startFileAgents(count, agents);
    const agentStartMs = performance.now() - agentsStarted;
    const src = path.join(dir, "source.bin");
    const sha = await writeRandomFile(src, BYTES);
    const vms = agents.map((agent, i) => ({ name: `vm${i}`, socket: agent.socket }));
    worker = await spawnWorker(dir, "group", cpWorkerConfig("bench-group", broker.url, data, vms));
    await worker.ready;
    // Warm-up: a small file to every VM, so neither side pays the agents' connections.
    const small = path.join(dir, "small.bin");
    await writeRandomFile(small, 4096);
    await timeCp(broker.url, small, `all:${path.join(data, "small.bin")}`);

    // Every VM's guest is this machine: each puts to the same path (each its own temporary file, renamed
    // whole), and the worker's sha256 of what each wrote is in its line.
    const groupTarget = path.join(data, "group.bin");
    const group = await timeCp(broker.url, src, `all:${groupTarget}`);
    const groupOk = group.lines.filter((line) => line.ok && line.sha256 === sha).length;
    if (groupOk !== count) throw new Error(`cp to all: ${groupOk} of ${count} ok with the right sha256`);
    if ((await sha256File(groupTarget)) !== sha) throw new Error("cp to all: the guest's file differs");

    const singleTarget = path.join(data, "single.bin");
    const sequentialStarted = performance.now();
    const singles: number[] = [];
    for (const vm of vms) {
      const single = await timeCp(broker.url, src, `${vm.name}:${singleTarget}`);
      if (single.lines[0]?.sha256 !== sha) throw new Error(`cp to ${vm.name}: sha256 differs`);
      singles.push(single.ms);
    }
    const sequentialMs = performance.now() - sequentialStarted;
    if ((await sha256File(singleTarget)) !== sha) throw new Error("cp to one VM: the guest's file differs");
    const ratio = group.ms / sequentialMs;
    const total = mib(BYTES) * count;
    return {
      id: "group-copy",
      title: "8. group copy",
      goal: `one \`cp\` to ${count} VMs faster than ${count} sequential single-VM \`cp\` runs (ratio < 1)`,
      pass: ratio < 1,
      figures: {
        agents: count,
        fileMiB: mib(BYTES),
        agentStartMs,
        groupCpMs: group.ms,
        sequentialCpMs: sequentialMs,
        singleCpMedianMs: [...singles].sort((a, b) => a - b)[Math.floor(singles.length / 2)]!,
        ratioGroupToSequential: ratio,
        groupMiBs: total / (group.ms / 1000),
        sequentialMiBs: total / (sequentialMs / 1000),
      },
      table: [
        [
          `\`qga-mqtt cp ./f all:/path\`, ${mib(BYTES)} MiB to ${count} real qemu-ga`,
          `${(group.ms / 1000).toFixed(2)} s (${(total / (group.ms / 1000)).toFixed(1)} MiB/s)`,
          `**${ratio.toFixed(3)}×** sequential`,
        ],
        [
          `${count} sequential \`qga-mqtt cp ./f vmN:/path\``,
          `${(sequentialMs / 1000).toFixed(2)} s (${(total / (sequentialMs / 1000)).toFixed(1)} MiB/s)`,
          "1×",
        ],
      ],
      notes: [
        `One run of each after a warm-up (a 4 KiB \`cp\` to all); wall time including each \`cp\`'s process start and its hashing of the file; every VM's line checked for the file's sha256, the file on disk checked too. One worker; \`cp\` puts to 4 VMs at a time. ${count} agents started in ${(agentStartMs / 1000).toFixed(1)} s, in batches of 10.`,
      ],
    };
  } finally {
    await worker?.stop();
    await Promise.all(agents.map((agent) => agent.dispose()));
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
