import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * A VM that moves to another host: its socket disappears under one worker and appears under another. The
 * VM keeps its name and topics, the new worker takes them over, the old one lets go, and a request is
 * answered once. A second VM stays on host-a throughout: requests to it are host-a's alone to answer.
 */
const skip = skipWithout("mosquitto");
const base = "move";
let dir: string;
let broker: Mosquitto;
let client: TestClient;
const workers: WorkerProcess[] = [];
const agents: FakeAgent[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-move-"));
  await mkdir(path.join(dir, "host-a"));
  await mkdir(path.join(dir, "host-b"));
  broker = await startMosquitto();
  client = await TestClient.connect(broker.url);
  await client.subscribe(`${base}/#`);
});

after(async () => {
  await client?.close();
  for (const worker of workers) await worker.stop();
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function workerConfig(id: string) {
  return {
    worker: { id },
    mqtt: { url: broker.url, baseTopic: base },
    discovery: { globs: [{ pattern: path.join(dir, id, "*.sock") }], rescanSeconds: 0.5 },
  };
}

/** Whether a worker's info message lists `vm`. */
function infoLists(vm: string) {
  return (m: Received) => (client.json(m).vms as Array<{ name: string }>).some((entry) => entry.name === vm);
}

test("a VM moving from host-a to host-b: topics taken over, let go, answered once", { skip }, async () => {
  const onA = await FakeAgent.start({ path: path.join(dir, "host-a", "mover.sock") });
  agents.push(onA);
  agents.push(await FakeAgent.start({ path: path.join(dir, "host-a", "anchor.sock") }));
  workers.push(await startWorker(dir, workerConfig("host-a")));
  workers.push(await startWorker(dir, workerConfig("host-b")));
  await client.next(`${base}/bridge/host-a/info`, (m) => infoLists("mover")(m) && infoLists("anchor")(m));
  await client.next(`${base}/mover/availability`, (m) => m.payload.toString() === "online");
  await client.next(`${base}/anchor/availability`, (m) => m.payload.toString() === "online");

  // The VM stops on host-a...
  const offline = client.upcoming(`${base}/mover/availability`, (m) => m.payload.toString() === "offline");
  await onA.stop();
  await offline;
  // ...and starts on host-b.
  const takenOver = client.upcoming(`${base}/bridge/host-b/info`, infoLists("mover"));
  const online = client.upcoming(`${base}/mover/availability`, (m) => m.payload.toString() === "online");
  const lettingGo = client.upcoming(`${base}/bridge/host-a/info`, (m) => !infoLists("mover")(m));
  const onB = await FakeAgent.start({ path: path.join(dir, "host-b", "mover.sock") });
  agents.push(onB);
  await Promise.all([takenOver, online, lettingGo]);

  // One request, one reply: host-b's, from the agent it reaches.
  const from = client.messages.length;
  await client.publish(`${base}/mover/cmd/guest-get-host-name`, '{"id":"once"}');
  const replyTopic = `${base}/mover/reply/guest-get-host-name`;
  const [reply] = await client.collect(replyTopic, (m) => client.json(m).id === "once", 1, from);
  assert.equal(client.json(reply!).ok, true);
  // The barrier: a request that host-a answers, published after the first. The broker hands host-a its
  // messages in the order it received them, so by host-a's reply to this one host-a has had the first too,
  // had it kept mover's command topic, and has dispatched it (it routes requests in order of arrival).
  // (host-b's reply to a second mover request would say nothing about what host-a did.)
  await client.publish(`${base}/anchor/cmd/guest-get-host-name`, '{"id":"barrier"}');
  const barrier = await client.next(
    `${base}/anchor/reply/guest-get-host-name`,
    (m) => client.json(m).id === "barrier",
  );
  assert.equal(client.json(barrier).ok, true);
  const onces = client.messages
    .slice(from)
    .filter((m) => m.topic === replyTopic && client.json(m).id === "once");
  assert.equal(onces.length, 1);
  assert.equal(onB.requests.filter((r) => r.execute === "guest-get-host-name").length >= 1, true);

  // What a client subscribing now sees: online, from host-b.
  const late = await TestClient.connect(broker.url);
  try {
    await late.subscribe(`${base}/mover/availability`);
    assert.equal((await late.next(`${base}/mover/availability`)).payload.toString(), "online");
  } finally {
    await late.close();
  }
});
