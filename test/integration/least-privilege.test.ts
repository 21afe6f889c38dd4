import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker under least privilege: a mosquitto with a password file and the example ACL of config/
 * (the worker may publish only under qga/), an operator who may command, and a read-only Home Assistant
 * user whose commands the broker refuses before they reach the worker.
 */
const skip = skipWithout("mosquitto");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const users = { "qga-worker": "worker-pw", operator: "operator-pw", homeassistant: "ha-pw" };
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;
let worker: WorkerProcess;
let counted = 0;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-acl-"));
  const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
  broker = await startMosquitto({ users, acl });
  // A command the status poller never sends: every call of it is a request's.
  agent = await FakeAgent.start({
    path: path.join(dir, "vm1.sock"),
    commands: { "guest-get-memory-block-info": () => ({ size: ++counted }) },
  });
  worker = await startWorker(
    dir,
    {
      worker: { id: "acl-host" },
      mqtt: { url: broker.url, username: "qga-worker" },
      vms: [{ name: "vm1", socket: agent.path }],
    },
    { QGA_MQTT_MQTT_PASSWORD: users["qga-worker"] },
  );
});

after(async () => {
  await worker?.stop();
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("the worker publishes its state, status and replies with rights under qga/ only", { skip }, async () => {
  const operator = await TestClient.connect(broker.url, { username: "operator", password: users.operator });
  try {
    await operator.subscribe("qga/#");
    assert.equal((await operator.next("qga/bridge/acl-host/state")).payload.toString(), "online");
    await operator.next("qga/vm1/status", (m) => operator.json(m).agent === "online");
    const reply = operator.next(
      "qga/vm1/reply/guest-get-memory-block-info",
      (m) => operator.json(m).id === "op1",
    );
    await operator.publish("qga/vm1/cmd/guest-get-memory-block-info", '{"id":"op1"}');
    assert.deepEqual(operator.json(await reply).result, { size: 1 });
  } finally {
    await operator.close();
  }
});

test("a read-only user's command is refused by the broker and never reaches the guest", {
  skip,
}, async () => {
  const ha = await TestClient.connect(broker.url, {
    username: "homeassistant",
    password: users.homeassistant,
  });
  try {
    await ha.subscribe("qga/vm1/status");
    assert.ok(await ha.next("qga/vm1/status"), "Home Assistant reads the retained status");
    const before = counted;
    await assert.rejects(
      ha.publish("qga/vm1/cmd/guest-get-memory-block-info", '{"id":"ha1"}'),
      /not authorized|135/i,
    );
    // The broker refused it at PUBACK: had it been forwarded, the worker would have run it before this
    // operator request, which it answers in order.
    const operator = await TestClient.connect(broker.url, { username: "operator", password: users.operator });
    try {
      await operator.subscribe("qga/vm1/reply/#");
      const reply = operator.next(
        "qga/vm1/reply/guest-get-memory-block-info",
        (m) => operator.json(m).id === "op2",
      );
      await operator.publish("qga/vm1/cmd/guest-get-memory-block-info", '{"id":"op2"}');
      assert.deepEqual(operator.json(await reply).result, { size: before + 1 });
    } finally {
      await operator.close();
    }
  } finally {
    await ha.close();
  }
});
