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
 * Exactly one reply, whatever fails on the way (issue 18, hole 6): a guest whose answer is nested
 * 100,000 deep made the worker publish nothing at all (JSON.stringify overflowed the stack); a reply the
 * broker refuses on the request's Response Topic was lost. Both are answered now, on the reply topic.
 */
const skip = skipWithout("mosquitto");
const base = "qga";
const users = { worker: "worker-pw", requester: "requester-pw" };
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-fallback-"));
  broker = await startMosquitto({
    users,
    acl: [
      "user worker",
      "topic readwrite qga/#",
      "topic write allowed/#",
      "",
      "user requester",
      "topic readwrite #",
      "",
    ].join("\n"),
  });
  const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
  agent = await FakeAgent.start({ path: path.join(dir, "vm1.sock") });
  // Written by hand: the fake's own serialiser would overflow on such a value too.
  agent.fault("guest-get-osinfo", { kind: "return", json: `{"id":"x","extra":${deep}}` }, 100);
  worker = await startWorker(
    dir,
    {
      worker: { id: "fallback" },
      mqtt: { url: broker.url, baseTopic: base, username: "worker" },
      vms: [{ name: "vm1", socket: agent.path }],
    },
    { QGA_MQTT_MQTT_PASSWORD: users.worker },
  );
  client = await TestClient.connect(broker.url, { username: "requester", password: users.requester });
  await client.subscribe(["qga/vm1/#", "allowed/#", "elsewhere/#"]);
  await client.next(`${base}/vm1/availability`, (m) => m.payload.toString() === "online");
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a reply the broker refuses on the Response Topic is answered internal on the reply topic", {
  skip,
}, async () => {
  const correlationData = Buffer.from("c-refused");
  const reply = client.upcoming(`${base}/vm1/reply/ping`, (m) => client.json(m).id === "refused-1");
  await client.publish(`${base}/vm1/cmd/ping`, '{"id":"refused-1"}', {
    properties: { responseTopic: "elsewhere/replies", correlationData },
  });
  const received = await reply;
  assert.deepEqual(received.correlationData, correlationData);
  const body = client.json(received);
  assert.equal((body.error as { code: string }).code, "internal");
  assert.match((body.error as { message: string }).message, /Response Topic/);
  assert.equal(body.result, undefined, "the result must not go where the requester did not ask");
  // A Response Topic the broker allows still gets the reply itself.
  const allowed = client.upcoming("allowed/replies");
  await client.publish(`${base}/vm1/cmd/ping`, '{"id":"allowed-1"}', {
    properties: { responseTopic: "allowed/replies", correlationData },
  });
  assert.equal(client.json(await allowed).ok, true);
});

test("a guest answer nested 100,000 deep still gets exactly one reply", { skip }, async () => {
  const reply = client.upcoming(`${base}/vm1/reply/guest-get-osinfo`, (m) => client.json(m).id === "deep-1");
  await client.publish(`${base}/vm1/cmd/guest-get-osinfo`, '{"id":"deep-1"}');
  const body = client.json(await reply);
  assert.equal(body.ok, false);
  assert.ok(
    ["agent_error", "internal"].includes((body.error as { code: string }).code),
    JSON.stringify(body),
  );
  // The worker is still there for the next request.
  const ping = client.upcoming(`${base}/vm1/reply/ping`, (m) => client.json(m).id === "after-deep");
  await client.publish(`${base}/vm1/cmd/ping`, '{"id":"after-deep"}');
  assert.equal(client.json(await ping).ok, true);
});
