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
 * A guest that floods its channel, as the worker reports it (issue 18, hole 9): an `agent_unresponsive`
 * event with when it will be tried again, a status that says `unresponsive`, a log of a few summary lines
 * (not one per line the guest wrote), and the other VM still answering.
 */
const skip = skipWithout("mosquitto");
const base = "qga";
let dir: string;
let broker: Mosquitto;
let flooder: FakeAgent;
let good: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-flood-w-"));
  broker = await startMosquitto();
  flooder = await FakeAgent.start({ path: path.join(dir, "bad.sock") });
  good = await FakeAgent.start({ path: path.join(dir, "good.sock") });
  worker = await startWorker(dir, {
    worker: { id: "flood-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [
      { name: "bad", socket: flooder.path },
      { name: "good", socket: good.path },
    ],
    log: { level: "debug" },
  });
  client = await TestClient.connect(broker.url);
  await client.subscribe(`${base}/#`);
  await client.next(`${base}/bad/availability`, (m) => m.payload.toString() === "online");
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await flooder?.stop();
  await good?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a flooding guest is cut off: agent_unresponsive, status unresponsive, a bounded log", {
  skip,
}, async () => {
  const event = client.upcoming(`${base}/bad/event`, (m) => client.json(m).event === "agent_unresponsive");
  const status = client.upcoming(`${base}/bad/status`, (m) => client.json(m).agent === "unresponsive");
  const logged = worker.logs.length;
  const flood = flooder.flood('{"return": {}, "id": "not-yours"}\n');
  try {
    const body = client.json(await event);
    assert.match(String(body.reason), /\d+/);
    assert.ok(Date.parse(String(body.retry_at)) > Date.now(), JSON.stringify(body));
    assert.ok(Number(body.lines) >= 1000, JSON.stringify(body));
    await status;
    // The other VM is served meanwhile.
    const pong = client.upcoming(`${base}/good/reply/ping`, (m) => client.json(m).id === "still-here");
    await client.publish(`${base}/good/cmd/ping`, '{"id":"still-here"}');
    assert.equal(client.json(await pong).ok, true);
  } finally {
    flood.stop();
  }
  const lines = worker.logs.slice(logged).filter((line) => line.includes('"vm":"bad"'));
  assert.ok(lines.length < 50, `${lines.length} log lines about the flooding VM`);
});
