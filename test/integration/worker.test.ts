import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { type RealAgent, realAgentVersions, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker as a user runs it (the CLI in its own process) against a real mosquitto, two real qemu-ga
 * agents (real1 the system's 7.2, real2 the 10.0 of test/helpers/qemu-ga.ts when it is there), a fake
 * agent for the faults the real one cannot show, and a VM whose socket does not exist. Clients are plain
 * MQTT clients, as mosquitto_pub/mosquitto_sub would be.
 */
const skip = skipWithout("qemu-ga", "mosquitto");
const [first, ...newer] = realAgentVersions();
const second = newer.find((agent) => !agent.skip) ?? first;
const base = "qgat";
let dir: string;
let broker: Mosquitto;
let real1: RealAgent;
let real2: RealAgent;
let fake: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;
let counter = 0;
let frozen = false;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-worker-"));
  broker = await startMosquitto();
  real1 = await startRealAgent();
  real2 = await startRealAgent({ binary: second?.binary });
  fake = await FakeAgent.start({
    path: path.join(dir, "fake.sock"),
    commands: {
      "guest-get-timezone": () => ({ zone: "UTC", offset: 0 }),
      "guest-fsfreeze-status": () => (frozen ? "frozen" : "thawed"),
      "guest-fsfreeze-freeze": () => {
        frozen = true;
        return 1;
      },
      "guest-fsfreeze-thaw": () => {
        frozen = false;
        return 1;
      },
    },
  });
  worker = await startWorker(dir, {
    worker: { id: "test-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [
      { name: "real1", socket: real1.socket, groups: ["web"] },
      { name: "real2", socket: real2.socket, groups: ["db"] },
      { name: "fake1", socket: fake.path, groups: ["web"] },
      { name: "ghost", socket: path.join(dir, "ghost.sock") },
    ],
    policy: { default: ["read"], vms: { real1: ["all"], fake1: ["all"] } },
    limits: { queueDepth: 8, defaultTimeoutSeconds: 5 },
    agent: { connectTimeoutMs: 1000, syncTimeoutMs: 1000, maxInFlight: 1 },
    status: { intervalSeconds: 30, heartbeatSeconds: 300 },
  });
  client = await TestClient.connect(broker.url);
  await client.subscribe(`${base}/#`);
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.stop();
  await real1?.dispose();
  await real2?.dispose();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Publishes a request with a fresh id and resolves with the reply on the VM's reply topic. */
async function request(vm: string, command: string, body: Record<string, unknown> = {}, retain = false) {
  const id = `t${++counter}`;
  const reply = client.upcoming(`${base}/${vm}/reply/${command}`, (m) => client.json(m).id === id);
  await client.publish(`${base}/${vm}/cmd/${command}`, JSON.stringify({ id, ...body }), { retain });
  return client.json(await reply);
}

function errorCode(reply: Record<string, unknown>): unknown {
  return (reply.error as { code?: unknown } | undefined)?.code;
}

test("bridge state online and info listing every VM with its groups", { skip }, async () => {
  const state = await client.next(`${base}/bridge/test-host/state`);
  assert.equal(state.payload.toString(), "online");
  assert.equal(state.retain, true);
  const info = client.json(
    await client.next(`${base}/bridge/test-host/info`, (m) => (client.json(m).vms as unknown[]).length === 4),
  );
  const vms = info.vms as Array<{ name: string; groups: string[]; commands: string[] }>;
  assert.deepEqual(vms.map((vm) => vm.name).sort(), ["fake1", "ghost", "real1", "real2"]);
  assert.deepEqual(vms.find((vm) => vm.name === "real2")?.groups, ["db"]);
  assert.ok(vms.find((vm) => vm.name === "real2")?.commands.includes("guest-get-osinfo"));
  assert.ok(!vms.find((vm) => vm.name === "real2")?.commands.includes("reboot"));
});

test("availability: online where the agent answers, offline where there is no socket", { skip }, async () => {
  for (const vm of ["real1", "real2", "fake1"]) {
    await client.next(`${base}/${vm}/availability`, (m) => m.payload.toString() === "online");
  }
  const ghost = await client.next(`${base}/ghost/availability`);
  assert.equal(ghost.payload.toString(), "offline");
});

test("a retained status snapshot of each guest, from the real agent", { skip }, async () => {
  const status = client.json(
    await client.next(`${base}/real1/status`, (m) => client.json(m).agent === "online"),
  );
  assert.equal(status.vm, "real1");
  assert.equal(status.hostname, os.hostname());
  assert.ok(Array.isArray(status.filesystems));
  assert.ok(typeof status.updated === "string" && !Number.isNaN(Date.parse(status.updated)));
  const ghost = client.json(await client.next(`${base}/ghost/status`));
  assert.equal(ghost.agent, "offline");
});

test("ping replies with the round trip; a raw command with the agent's own result", { skip }, async () => {
  const ping = await request("real2", "ping");
  assert.equal(ping.ok, true);
  assert.equal(ping.vm, "real2");
  assert.ok(((ping.result as { rtt_ms: number }).rtt_ms ?? -1) >= 0);
  const osinfo = await request("real2", "guest-get-osinfo");
  assert.equal(osinfo.ok, true);
  assert.equal(typeof (osinfo.result as Record<string, unknown>)["kernel-release"], "string");
  // 10.0's guest-get-load through the bridge; a 7.2 agent does not have it.
  const load = await request("real2", "guest-get-load");
  if (second?.version === "10.0") assert.equal(typeof (load.result as { load1m?: unknown }).load1m, "number");
  else assert.equal(errorCode(load), "unsupported");
});

test("the status verb polls now, replies with the snapshot and republishes it", { skip }, async () => {
  const republished = client.upcoming(`${base}/real2/status`);
  const reply = await request("real2", "status");
  assert.equal(reply.ok, true);
  const snapshot = reply.result as Record<string, unknown>;
  assert.equal(snapshot.hostname, os.hostname());
  assert.equal(String(snapshot.agent_version).split(".").slice(0, 2).join("."), second?.version);
  assert.equal(client.json(await republished).vm, "real2");
});

test("every error code of the contract, each followed by a good request", { skip }, async () => {
  const cases: Array<[string, () => Promise<Record<string, unknown>>]> = [
    ["invalid_payload", () => rawRequest("real1", "ping", "not json")],
    ["invalid_arguments", () => request("real1", "guest-file-read", { args: { handle: "one" } })],
    ["unknown_command", () => request("real1", "guest-frobnicate")],
    ["forbidden", () => request("real2", "reboot")],
    ["retained_command", () => request("real1", "guest-ping", {}, true)],
    ["agent_unavailable", () => request("ghost", "ping")],
    ["unsupported", () => request("real1", "guest-exec", { args: { path: "/bin/true" } })],
    ["agent_error", () => request("real1", "guest-file-close", { args: { handle: 123456789 } })],
    ["timeout", () => timeoutCase()],
    ["busy", () => busyCase()],
    ["frozen", () => frozenCase()],
  ];
  for (const [code, run] of cases) {
    const reply = await run();
    assert.equal(reply.ok, false, code);
    assert.equal(errorCode(reply), code, `${code}: ${JSON.stringify(reply)}`);
    assert.ok(String((reply.error as { message: string }).message).length > 10, `${code} has a message`);
    const good = await request("real1", "ping");
    assert.equal(good.ok, true, `a good request after ${code}`);
  }
  // The retained request was refused, not run: clear it so it does not stay on the broker.
  await client.publish(`${base}/real1/cmd/guest-ping`, "", { retain: true });
});

async function rawRequest(vm: string, command: string, payload: string) {
  const reply = client.upcoming(`${base}/${vm}/reply/${command}`, (m) => !client.json(m).ok);
  await client.publish(`${base}/${vm}/cmd/${command}`, payload);
  return client.json(await reply);
}

async function timeoutCase() {
  fake.fault("guest-get-host-name", { kind: "delay", ms: 1500 });
  return request("fake1", "guest-get-host-name", { timeout: 0.3 });
}

async function busyCase() {
  fake.fault("guest-get-osinfo", { kind: "hang" });
  // One in flight and eight queued (limits.queueDepth 8) at most: of twelve at once, three at least are
  // refused. The status poller shares the agent's queue, so more may be; none is lost.
  const replies = Array.from({ length: 12 }, () => request("fake1", "guest-get-osinfo"));
  const busy = await Promise.any(
    replies.map((reply) =>
      reply.then((r) => (errorCode(r) === "busy" ? r : Promise.reject(new Error("not busy")))),
    ),
  );
  fake.release();
  for (const reply of await Promise.all(replies)) {
    assert.ok(reply.ok || errorCode(reply) === "busy", JSON.stringify(reply));
  }
  return busy;
}

async function frozenCase() {
  const frozenEvent = client.upcoming(`${base}/fake1/event`, (m) => client.json(m).event === "frozen");
  const freeze = await request("fake1", "guest-fsfreeze-freeze");
  assert.equal(freeze.ok, true, JSON.stringify(freeze));
  await frozenEvent;
  const refused = await request("fake1", "guest-get-osinfo");
  const thawed = client.upcoming(`${base}/fake1/event`, (m) => client.json(m).event === "thawed");
  assert.equal((await request("fake1", "guest-fsfreeze-thaw")).ok, true);
  await thawed;
  return refused;
}

test("a duplicate id is answered with the first reply and not run again", { skip }, async () => {
  const ran = fake.requests.filter((r) => r.execute === "guest-get-host-name").length;
  const body = JSON.stringify({ id: "dup-1" });
  const from = client.messages.length;
  await client.publish(`${base}/fake1/cmd/guest-get-host-name`, body);
  await client.publish(`${base}/fake1/cmd/guest-get-host-name`, body);
  const topic = `${base}/fake1/reply/guest-get-host-name`;
  const replies = (await client.collect(topic, (m) => client.json(m).id === "dup-1", 2, from)).map((m) =>
    client.json(m),
  );
  assert.deepEqual(replies[0], replies[1]);
  assert.equal(fake.requests.filter((r) => r.execute === "guest-get-host-name").length, ran + 1);
});

test("MQTT 5: the reply goes to the response topic only, with the correlation data", { skip }, async () => {
  const correlationData = Buffer.from("corr-42");
  const replyTopic = `replies/${counter++}`;
  await client.subscribe(replyTopic);
  const reply = client.upcoming(replyTopic);
  const onReplyTopic = client.messages.length;
  await client.publish(`${base}/real2/cmd/ping`, "", {
    properties: { responseTopic: replyTopic, correlationData },
  });
  const received = await reply;
  assert.deepEqual(received.correlationData, correlationData);
  assert.equal(client.json(received).ok, true);
  // A later request's reply on the default topic comes after anything the first request would have sent
  // there (one worker, one topic, QoS 1: in order), so the check below sees a stray reply if there was one.
  const barrier = client.upcoming(`${base}/real2/reply/ping`, (m) => client.json(m).id === "barrier");
  await client.publish(`${base}/real2/cmd/ping`, JSON.stringify({ id: "barrier" }));
  await barrier;
  const onDefault = client.messages.slice(onReplyTopic).filter((m) => m.topic === `${base}/real2/reply/ping`);
  assert.deepEqual(
    onDefault.map((m) => client.json(m).id),
    ["barrier"],
  );
});

test("MQTT 3.1.1: a client matches the reply by its id", { skip }, async () => {
  const old = await TestClient.connect(broker.url, { protocolVersion: 4 });
  try {
    await old.subscribe(`${base}/real1/reply/#`);
    const reply = old.upcoming(`${base}/real1/reply/guest-get-timezone`, (m) => old.json(m).id === "v311");
    await old.publish(`${base}/real1/cmd/guest-get-timezone`, '{"id":"v311"}');
    assert.equal(old.json(await reply).ok, true);
  } finally {
    await old.close();
  }
});

test("a group command runs on every member, each replying with its vm", { skip }, async () => {
  const web = ["fake1", "real1"].map((vm) =>
    client.upcoming(`${base}/${vm}/reply/ping`, (m) => client.json(m).id === "g1"),
  );
  await client.publish(`${base}/group/web/cmd/ping`, '{"id":"g1"}');
  const replies = await Promise.all(web);
  assert.deepEqual(replies.map((m) => client.json(m).vm).sort(), ["fake1", "real1"]);
  const all = ["fake1", "real1", "real2", "ghost"].map((vm) =>
    client.upcoming(`${base}/${vm}/reply/ping`, (m) => client.json(m).id === "g2"),
  );
  await client.publish(`${base}/group/all/cmd/ping`, '{"id":"g2"}');
  const outcomes = (await Promise.all(all)).map((m) => client.json(m));
  assert.deepEqual(
    outcomes.map((r) => r.ok),
    [true, true, true, false],
  );
});

test("an agent killed and restarted: offline then online, with events", { skip }, async () => {
  const offline = client.upcoming(`${base}/real2/availability`, (m) => m.payload.toString() === "offline");
  const offEvent = client.upcoming(`${base}/real2/event`, (m) => client.json(m).event === "agent_offline");
  await real2.kill();
  await offline;
  await offEvent;
  const online = client.upcoming(`${base}/real2/availability`, (m) => m.payload.toString() === "online");
  const onEvent = client.upcoming(`${base}/real2/event`, (m) => client.json(m).event === "agent_online");
  real2 = await real2.restart();
  await online;
  await onEvent;
  assert.equal((await request("real2", "ping")).ok, true);
});

test("a broker restart: the worker reconnects and serves again", { skip }, async () => {
  const back = client.upcoming(
    `${base}/bridge/test-host/state`,
    (m) => m.payload.toString() === "online",
    30_000,
  );
  await broker.restart();
  await back;
  const reply = await request("real1", "ping");
  assert.equal(reply.ok, true);
});

test("SIGTERM: the worker says offline and exits 0", { skip }, async () => {
  const offline = client.upcoming(
    `${base}/bridge/test-host/state`,
    (m) => m.payload.toString() === "offline",
  );
  assert.equal(await worker.stop(), 0);
  await offline;
  // What a client subscribing now is handed: the retained offline.
  const late = await TestClient.connect(broker.url);
  try {
    await late.subscribe(`${base}/bridge/test-host/state`);
    const retained = await late.next(`${base}/bridge/test-host/state`);
    assert.equal(retained.payload.toString(), "offline");
    assert.equal(retained.retain, true);
  } finally {
    await late.close();
  }
});
