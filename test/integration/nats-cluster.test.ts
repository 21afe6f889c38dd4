import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type NatsCluster, startNatsCluster } from "../helpers/nats.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The fleet on a distributed broker: three workers, each on its own node of a three-node NATS cluster
 * (MQTT 3.1.1), and `qga-mqtt call all` through yet another node gets every VM's reply.
 */
const skip = skipWithout("nats-server");
let dir: string;
let cluster: NatsCluster;
const agents: FakeAgent[] = [];
const workers: WorkerProcess[] = [];
const PER_WORKER = 3;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-natsfleet-"));
  cluster = await startNatsCluster(3);
  for (let w = 0; w < 3; w++) {
    const vms = [];
    for (let v = 0; v < PER_WORKER; v++) {
      const name = `w${w}-vm${v}`;
      agents.push(await FakeAgent.start({ path: path.join(dir, `${name}.sock`) }));
      vms.push({ name, socket: path.join(dir, `${name}.sock`), groups: [v === 0 ? "first" : "rest"] });
    }
    workers.push(
      await startWorker(
        dir,
        { worker: { id: `w${w}` }, mqtt: { url: cluster.mqttUrls[w % 2], protocolVersion: 4 }, vms },
        {},
      ),
    );
  }
});

after(async () => {
  for (const worker of workers) await worker.stop();
  for (const agent of agents) await agent.stop();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What the workers logged at warn and above: in an assertion's message, it tells a flaky broker from a bug. */
function workerWarnings(): string {
  const lines = workers.flatMap((worker, w) =>
    worker.logs.filter((line) => /"level":(4|5|6)0/.test(line)).map((line) => `w${w}: ${line}`),
  );
  return lines.length > 0 ? `\nworker warnings:\n${lines.slice(-20).join("\n")}` : "";
}

function callVia(url: string, args: string[]) {
  return runCli(args, { QGA_MQTT_MQTT_URL: url, QGA_MQTT_MQTT_PROTOCOL_VERSION: "4" });
}

test("call all through a third node gets every reply from every worker", { skip }, async () => {
  const result = await callVia(cluster.mqttUrls[2]!, [
    "call",
    "all",
    "guest-ping",
    "--json",
    "--timeout",
    "10",
  ]);
  const replies = result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { vm: string; ok: boolean });
  assert.equal(result.code, 0, result.stdout + result.stderr + workerWarnings());
  assert.equal(replies.length, 3 * PER_WORKER);
  assert.ok(replies.every((reply) => reply.ok));
});

test("list through the third node shows the whole fleet; a group reaches its members on every worker", {
  skip,
}, async () => {
  const list = await callVia(cluster.mqttUrls[2]!, ["list", "--json"]);
  assert.equal(list.code, 0, list.stdout + list.stderr + workerWarnings());
  assert.equal(list.stdout.trim().split("\n").length, 3 * PER_WORKER);
  const group = await callVia(cluster.mqttUrls[2]!, ["call", "group:first", "guest-get-host-name", "--json"]);
  assert.equal(group.code, 0, group.stdout + group.stderr + workerWarnings());
  const vms = group.stdout
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { vm: string }).vm)
    .sort();
  assert.deepEqual(vms, ["w0-vm0", "w1-vm0", "w2-vm0"]);
});
