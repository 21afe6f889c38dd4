import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker } from "../helpers/worker-process.js";

/**
 * What survives a worker's restart, against a mosquitto that needs a password: retained topics of a VM
 * removed from the configuration meanwhile are cleared, those of a VM another worker now serves are not,
 * and the broker password (from the environment) never reaches a log line.
 */
const skip = skipWithout("mosquitto");
const base = "life";
const password = "s3cret-Pa55word";
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-life-"));
  broker = await startMosquitto({ users: { worker: password, reader: "reader-pw" } });
  for (const name of ["keep", "gone", "moved"]) {
    agents.push(await FakeAgent.start({ path: path.join(dir, `${name}.sock`) }));
  }
});

after(async () => {
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function vm(name: string) {
  return { name, socket: path.join(dir, `${name}.sock`) };
}

function config(worker: string, vms: string[]) {
  return {
    worker: { id: worker },
    mqtt: { url: broker.url, username: "worker", baseTopic: base },
    vms: vms.map(vm),
  };
}

/** The retained status of each VM that a client subscribing now is handed. */
async function retainedStatuses(names: string[]): Promise<Record<string, string | undefined>> {
  const client = await TestClient.connect(broker.url, { username: "reader", password: "reader-pw" });
  try {
    // A marker after the retained messages: the broker hands those over first.
    await client.subscribe([`${base}/+/status`, "marker"]);
    await client.publish("marker", "x");
    await client.next("marker");
    const result: Record<string, string | undefined> = {};
    for (const name of names) {
      const message = client.messages.find((m) => m.topic === `${base}/${name}/status` && m.retain);
      result[name] = message ? String(client.json(message).agent) : undefined;
    }
    return result;
  } finally {
    await client.close();
  }
}

test("a restart clears the retained topics of a removed VM, but not of one another worker serves", {
  skip,
}, async () => {
  const env = { QGA_MQTT_MQTT_PASSWORD: password };
  const first = await startWorker(dir, config("host-a", ["keep", "gone", "moved"]), env);
  const watcher = await TestClient.connect(broker.url, { username: "reader", password: "reader-pw" });
  await watcher.subscribe(`${base}/+/status`);
  for (const name of ["keep", "gone", "moved"]) {
    await watcher.next(`${base}/${name}/status`, (m) => watcher.json(m).agent === "online");
  }
  await watcher.close();
  assert.equal(await first.stop(), 0);

  // "moved" now runs on host-b; host-a comes back without "gone" and "moved".
  const second = await startWorker(dir, config("host-b", ["moved"]), env);
  const third = await startWorker(dir, config("host-a", ["keep"]), env);
  try {
    await third.waitForLog(
      (line) => line.msg === "VM served before the restart is gone: clearing its retained topics",
    );
    const statuses = await retainedStatuses(["keep", "gone", "moved"]);
    assert.equal(statuses.gone, undefined);
    assert.equal(statuses.keep, "online");
    assert.equal(statuses.moved, "online");
    const cleared = third.logs.filter((l) => l.includes("clearing its retained topics"));
    assert.equal(cleared.length, 1);
    assert.match(cleared[0] ?? "", /"vm":"gone"/);
  } finally {
    await third.stop();
    await second.stop();
  }
  for (const worker of [first, second, third]) {
    for (const line of worker.logs)
      assert.ok(!line.includes(password), `a log line holds the password: ${line}`);
  }
});

test("a wrong broker password stops the worker with a clear message and exit code 1", { skip }, async () => {
  const error: unknown = await startWorker(dir, config("host-c", ["keep"]), {
    QGA_MQTT_MQTT_PASSWORD: "wrong",
  }).then(
    () => assert.fail("the worker started with a wrong password"),
    (e: unknown) => e,
  );
  assert.match(String(error), /\(code 1\)/);
  assert.match(String(error), /not authorized|username or password/i);
});

test("MQTT 3.1.1: a stale retained command handed over at subscription is refused, a live one runs", {
  skip,
}, async () => {
  // A command the status poller never sends, so every call of it is a request's.
  let calls = 0;
  const solo = await FakeAgent.start({
    path: path.join(dir, "solo.sock"),
    commands: { "guest-get-memory-block-info": () => ({ size: 134217728, calls: ++calls }) },
  });
  agents.push(solo);
  const client = await TestClient.connect(broker.url, {
    username: "reader",
    password: "reader-pw",
    protocolVersion: 4,
  });
  const env = { QGA_MQTT_MQTT_PASSWORD: password, QGA_MQTT_MQTT_PROTOCOL_VERSION: "4" };
  const topic = `${base}/solo/cmd/guest-get-memory-block-info`;
  const replies = `${base}/solo/reply/guest-get-memory-block-info`;
  try {
    await client.subscribe(`${base}/solo/reply/#`);
    await client.publish(topic, '{"id":"stale"}', { retain: true });
    const refused = client.next(replies, (m) => client.json(m).id === "stale");
    const worker = await startWorker(dir, config("host-d", ["solo"]), env);
    try {
      const reply = client.json(await refused);
      assert.equal((reply.error as { code: string }).code, "retained_command");
      assert.equal(calls, 0);
      const live = client.next(replies, (m) => client.json(m).id === "live");
      await client.publish(topic, '{"id":"live"}');
      const ok = client.json(await live);
      assert.equal(ok.ok, true);
      assert.deepEqual(ok.result, { size: 134217728, calls: 1 });
    } finally {
      await worker.stop();
      await client.publish(topic, "", { retain: true });
    }
  } finally {
    await client.close();
  }
});
