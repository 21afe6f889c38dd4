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
 * One bad VM never holds up the others (a hung agent, an agent flooding the channel with lines nobody
 * asked for, a full queue), and a request that expired (MQTT 5 message expiry) while the worker was away
 * never runs.
 */
const skip = skipWithout("mosquitto");
const base = "iso";
let dir: string;
let broker: Mosquitto;
let client: TestClient;
const agents: Record<string, FakeAgent> = {};
let worker: WorkerProcess;
let counter = 0;

const config = () => ({
  worker: { id: "iso" },
  mqtt: { url: broker.url, baseTopic: base },
  vms: Object.entries(agents).map(([name, agent]) => ({ name, socket: agent.path })),
  limits: { queueDepth: 4, defaultTimeoutSeconds: 20 },
  agent: { maxInFlight: 1 },
});

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-iso-"));
  broker = await startMosquitto({ persistence: true });
  for (const name of ["good", "hung", "flood"]) {
    agents[name] = await FakeAgent.start({ path: path.join(dir, `${name}.sock`) });
  }
  worker = await startWorker(dir, config());
  client = await TestClient.connect(broker.url);
  await client.subscribe([`${base}/+/reply/#`, `${base}/+/availability`]);
  // Faults are set on agents the worker is connected to: a hang during its handshake would be another test.
  for (const name of Object.keys(agents)) {
    await client.next(`${base}/${name}/availability`, (m) => m.payload.toString() === "online", 30_000);
  }
});

after(async () => {
  await client?.close();
  await worker?.stop();
  for (const agent of Object.values(agents)) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function request(vm: string, body: object = {}) {
  const id = `i${++counter}`;
  const topic = `${base}/${vm}/reply/guest-get-host-name`;
  const reply = client.next(topic, (m) => client.json(m).id === id, 30_000);
  await client.publish(`${base}/${vm}/cmd/guest-get-host-name`, JSON.stringify({ id, ...body }));
  return client.json(await reply);
}

test("a hung agent with a full queue holds up only its own VM", { skip }, async () => {
  const hung = agents.hung!;
  const seen = hung.requests.length;
  hung.fault("*", { kind: "hang" }, Number.POSITIVE_INFINITY);
  // Fill the hung VM: one in flight, four queued, the rest refused as busy.
  const stuck = Array.from({ length: 8 }, () => request("hung"));
  await hung.waitForRequest((r) => hung.requests.indexOf(r) >= seen);
  const busy = await Promise.any(
    stuck.map((p) =>
      p.then((r) => ((r.error as { code?: string })?.code === "busy" ? r : Promise.reject(r))),
    ),
  );
  assert.equal((busy.error as { code: string }).code, "busy");
  // Meanwhile the good VM answers every request, in full, while the hung one's are still pending.
  for (let i = 0; i < 20; i++) assert.equal((await request("good")).ok, true);
  hung.release();
  await Promise.all(stuck);
});

test("an agent flooding its channel with lines nobody asked for: the others are served, it recovers", {
  skip,
}, async () => {
  const flood = agents.flood!;
  // 20,000 stale lines wait for the next read on this channel.
  flood.fault("guest-get-host-name", {
    kind: "raw",
    line: Array.from({ length: 20_000 }, (_, i) => `{"return": {"junk": ${i}}, "id": "not-ours-${i}"}`).join(
      "\n",
    ),
  });
  // Far more than any agent sends unasked: the worker cuts it off (not read for a while), and the request
  // whose reply the lines stand in for fails at once, alone.
  const back = client.upcoming(
    `${base}/flood/availability`,
    (m) => m.payload.toString() === "online",
    60_000,
  );
  const flooded = request("flood", { timeout: 3 });
  for (let i = 0; i < 20; i++) assert.equal((await request("good")).ok, true);
  const error = (await flooded).error as { code: string; message: string };
  assert.equal(error.code, "agent_unavailable");
  assert.match(error.message, /flood|unasked|cut off/i);
  // After the cut-off the agent is connected again and served.
  await back;
  assert.equal((await request("flood")).ok, true);
});

test("a request that expired while the worker was away never runs", { skip }, async () => {
  await worker.stop();
  // Published while no worker runs: the broker keeps it in the worker's session, for one second only.
  await client.publish(`${base}/good/cmd/guest-get-host-name`, '{"id":"expired"}', {
    properties: { messageExpiryInterval: 1 },
  });
  // Time itself is the subject here: let the expiry pass.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await client.publish(`${base}/good/cmd/guest-ping`, '{"id":"fresh"}');
  const fresh = client.next(`${base}/good/reply/guest-ping`, (m) => client.json(m).id === "fresh", 30_000);
  worker = await startWorker(dir, config());
  assert.equal(client.json(await fresh).ok, true);
  // The worker takes its session's messages in order: the expired one, had it been delivered, came first.
  assert.ok(
    !client.messages.some(
      (m) => m.topic.endsWith("reply/guest-get-host-name") && client.json(m).id === "expired",
    ),
  );
});
