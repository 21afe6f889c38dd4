import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * A request's MQTT 5 Response Topic is the requester's words, published to with the worker's rights
 * (issue 18, hole 7). Before, the worker published replies onto another VM's retained status, another
 * worker's bridge info and Home Assistant's discovery topics when asked to. Now such a request is refused
 * (`invalid_payload`, with its id and correlation data, on the VM's reply topic) and does not run.
 */
const skip = skipWithout("mosquitto");
const base = "qga";
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;
let ran = 0;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-resp-"));
  broker = await startMosquitto();
  // A command the status poller never sends: every call of it is a request's.
  agent = await FakeAgent.start({
    path: path.join(dir, "vm1.sock"),
    commands: { "guest-get-memory-block-info": () => ({ size: ++ran }) },
  });
  worker = await startWorker(dir, {
    worker: { id: "resp-host" },
    mqtt: { url: broker.url, baseTopic: base, responseTopicPrefixes: ["apps"] },
    vms: [
      { name: "vm1", socket: agent.path },
      { name: "vm2", socket: agent.path },
    ],
  });
  client = await TestClient.connect(broker.url);
  await client.subscribe(["#"]);
  await client.next(`${base}/vm2/status`);
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const command = "guest-get-memory-block-info";

for (const target of [
  `${base}/vm2/status`,
  `${base}/vm2/availability`,
  `${base}/bridge/other-host/info`,
  `${base}/bridge/resp-host/state`,
  "homeassistant/device/qga_vm2/config",
  "somewhere/else",
]) {
  test(`a Response Topic of ${target} is refused, answered on the reply topic, and nothing runs`, {
    skip,
  }, async () => {
    const id = `bad-${target}`;
    const correlationData = Buffer.from(id);
    const before = ran;
    const from = client.messages.length;
    const reply = client.upcoming(`${base}/vm1/reply/${command}`, (m) => client.json(m).id === id);
    await client.publish(`${base}/vm1/cmd/${command}`, JSON.stringify({ id }), {
      properties: { responseTopic: target, correlationData },
    });
    const received = await reply;
    const body = client.json(received);
    assert.equal(body.ok, false);
    assert.equal((body.error as { code: string }).code, "invalid_payload");
    assert.match((body.error as { message: string }).message, /Response Topic/);
    assert.deepEqual(received.correlationData, correlationData);
    assert.equal(ran, before, "the command ran");
    const onTarget = client.messages.slice(from).filter((m) => m.topic === target);
    assert.deepEqual(onTarget, [], `the worker published to ${target}`);
  });
}

test("a caller's own replies topic and the operator's prefixes are allowed", { skip }, async () => {
  for (const target of [`${base}/bridge/my-script/replies`, "apps/fleet/replies"]) {
    const id = `good-${target}`;
    const reply = client.upcoming(target, (m) => client.json(m).id === id);
    await client.publish(`${base}/vm1/cmd/${command}`, JSON.stringify({ id }), {
      properties: { responseTopic: target, correlationData: Buffer.from(id) },
    });
    assert.equal(client.json(await reply).ok, true, target);
  }
});
