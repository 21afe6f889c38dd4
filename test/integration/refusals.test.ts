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
 * Every reply can be matched (issue 19, points 2 and 5): a refused payload whose id can be read carries
 * it, also when it is over the size limit, under MQTT 3.1.1 (id only) and 5 (correlation data too); an
 * empty retained publish, which is how a retained command is cleared, is not answered at all.
 */
const skip = skipWithout("mosquitto");
const base = "qga";
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;
let worker: WorkerProcess;
let v5: TestClient;
let v311: TestClient;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-refusals-"));
  broker = await startMosquitto();
  agent = await FakeAgent.start({ path: path.join(dir, "vm1.sock") });
  worker = await startWorker(dir, {
    worker: { id: "refusals-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [{ name: "vm1", socket: agent.path }],
    policy: { default: ["read", "files"] },
  });
  v5 = await TestClient.connect(broker.url);
  v311 = await TestClient.connect(broker.url, { protocolVersion: 4 });
  for (const client of [v5, v311]) await client.subscribe(`${base}/vm1/reply/#`);
  await v5.subscribe(`${base}/vm1/availability`);
  await v5.next(`${base}/vm1/availability`, (m) => m.payload.toString() === "online");
});

after(async () => {
  await v5?.close();
  await v311?.close();
  await worker?.stop();
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function refusal(client: TestClient, command: string, id: string, payload: string | Buffer) {
  const reply = client.upcoming(`${base}/vm1/reply/${command}`, (m) => client.json(m).id === id);
  await client.publish(`${base}/vm1/cmd/${command}`, payload);
  const body = client.json(await reply);
  assert.equal(body.ok, false);
  return body.error as { code: string; message: string };
}

test("MQTT 3.1.1: a payload with an unknown member is refused with its id", { skip }, async () => {
  const error = await refusal(v311, "ping", "x1", '{"id":"x1","timout":5}');
  assert.equal(error.code, "invalid_payload");
  assert.match(error.message, /timout/);
});

test("MQTT 3.1.1: a payload over limits.maxPayloadBytes is refused with its id", { skip }, async () => {
  const content = "x".repeat(400_000);
  const error = await refusal(
    v311,
    // Not write-file: its payload limit follows limits.fileBytes (8 MiB) instead.
    "exec",
    "big-1",
    JSON.stringify({ args: { path: "/bin/cat", stdin: content }, id: "big-1" }),
  );
  assert.equal(error.code, "invalid_payload");
  assert.match(error.message, /limits\.maxPayloadBytes/);
});

test("MQTT 3.1.1: a payload that is not JSON still carries the id it starts with", { skip }, async () => {
  const error = await refusal(v311, "ping", "cut-1", '{"id":"cut-1","args":{');
  assert.equal(error.code, "invalid_payload");
});

test("MQTT 5: a refusal keeps the correlation data and the id", { skip }, async () => {
  const correlationData = Buffer.from("corr-refused");
  const reply = v5.upcoming("replies/refused");
  await v5.subscribe("replies/refused");
  await v5.publish(`${base}/vm1/cmd/ping`, '{"id":"x2","timeout":"soon"}', {
    properties: { responseTopic: "replies/refused", correlationData },
  });
  const received = await reply;
  assert.deepEqual(received.correlationData, correlationData);
  assert.equal(v5.json(received).id, "x2");
  assert.equal((v5.json(received).error as { code: string }).code, "invalid_payload");
});

test("an empty retained publish on a command topic is not answered", { skip }, async () => {
  for (const client of [v5, v311]) {
    const from = v5.messages.length;
    await client.publish(`${base}/vm1/cmd/ping`, "", { retain: true });
    // Replies of one VM come in order: once the barrier's is here, a reply to the clear would have been too.
    const barrier = v5.upcoming(`${base}/vm1/reply/ping`, (m) => v5.json(m).id === "barrier");
    await v5.publish(`${base}/vm1/cmd/ping`, '{"id":"barrier"}');
    await barrier;
    const replies = v5.messages.slice(from).filter((m) => m.topic === `${base}/vm1/reply/ping`);
    assert.deepEqual(
      replies.map((m) => v5.json(m).id),
      ["barrier"],
    );
  }
});
