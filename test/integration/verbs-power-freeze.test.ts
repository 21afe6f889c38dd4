import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type FakeSystem, fakeSystem, systemCommands } from "../fakes/fake-guest-system.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The power, freeze, time and password verbs through the worker CLI and a real mosquitto, against the
 * scriptable fake agent: for what a real guest cannot be made to do on demand (refuse a shutdown, drop the
 * link, stay frozen past the deadline) and for what only a fake can record (the exact arguments it got).
 */
const skip = skipWithout("mosquitto");
const base = "qgav";
let dir: string;
let broker: Mosquitto;
let fake: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;
let counter = 0;

const guest = fakeSystem(3_600_000);

function workerConfig(id: string, socket: string, maxSeconds: number): Record<string, unknown> {
  return {
    worker: { id },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [{ name: id === "verbs-host" ? "fake1" : "fake2", socket }],
    policy: { default: ["all"] },
    fsfreeze: { maxSeconds },
    limits: { defaultTimeoutSeconds: 5 },
    agent: { connectTimeoutMs: 1000, syncTimeoutMs: 1000 },
    status: { intervalSeconds: 30, heartbeatSeconds: 300 },
    // trace: the password test proves the secret is absent from every line the worker can log.
    log: { level: "trace" },
  };
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-verbs-"));
  broker = await startMosquitto();
  fake = await FakeAgent.start({ path: path.join(dir, "fake.sock"), commands: systemCommands(guest) });
  worker = await startWorker(dir, workerConfig("verbs-host", fake.path, 30));
  client = await TestClient.connect(broker.url);
  await client.subscribe(`${base}/#`);
  await client.next(`${base}/fake1/availability`, (m) => m.payload.toString() === "online");
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Reply {
  readonly id: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: { readonly code: string; readonly message: string; readonly desc?: string };
  readonly ms: number;
}

/** Publishes a request with a fresh id; resolves with the reply on the VM's reply topic. */
async function request(command: string, args?: Record<string, unknown>, vm = "fake1"): Promise<Reply> {
  const id = `v${++counter}`;
  const reply = client.upcoming(`${base}/${vm}/reply/${command}`, (m) => client.json(m).id === id);
  await client.publish(`${base}/${vm}/cmd/${command}`, JSON.stringify(args ? { id, args } : { id }));
  return JSON.parse((await reply).payload.toString()) as Reply;
}

const event = (name: string, vm = "fake1") =>
  client.upcoming(`${base}/${vm}/event`, (m) => client.json(m).event === name);

test("shutdown, reboot, halt: guest-shutdown with their mode, accepted", { skip }, async () => {
  for (const [verb, mode] of [
    ["shutdown", "powerdown"],
    ["reboot", "reboot"],
    ["halt", "halt"],
  ] as const) {
    const seen = fake.requests.length;
    const reply = await request(verb);
    assert.deepEqual([reply.ok, reply.result], [true, { accepted: true, mode }], JSON.stringify(reply));
    const sent = fake.requests.slice(seen).find((r) => r.execute === "guest-shutdown");
    assert.deepEqual(sent?.arguments, { mode });
  }
  const extra = await request("reboot", { force: true });
  assert.equal(extra.error?.code, "invalid_arguments");
  assert.match(String(extra.error?.message), /args\.force: unexpected member/);
});

test("a shutdown the guest refuses is an agent_error with the agent's own words", { skip }, async () => {
  guest.refuseShutdown = true;
  try {
    const reply = await request("shutdown");
    assert.equal(reply.ok, false);
    assert.deepEqual(reply.error, {
      code: "agent_error",
      message: "GenericError: child process has failed to shutdown",
      class: "GenericError",
      desc: "child process has failed to shutdown",
    });
  } finally {
    guest.refuseShutdown = false;
  }
});

/** The first availability message of fake1 saying `state` after message index `index`. */
function availabilityAfter(index: number, state: string) {
  const topic = `${base}/fake1/availability`;
  return client.next(topic, (m) => client.messages.indexOf(m) > index && m.payload.toString() === state);
}

test("a link that drops after guest-shutdown is the guest going down: accepted, offline, online", {
  skip,
}, async () => {
  const from = client.messages.length - 1;
  fake.fault("guest-shutdown", { kind: "disconnect" });
  assert.deepEqual((await request("reboot")).result, { accepted: true, mode: "reboot" });
  // The client reconnects at once (the status poller asks): "online" may already be there.
  await availabilityAfter(client.messages.indexOf(await availabilityAfter(from, "offline")), "online");
});

test("a guest that falls silent after accepting, its link open (a VM's chardev): offline, then online", {
  skip,
}, async () => {
  const from = client.messages.length - 1;
  // The worker's first ping after the acceptance finds the guest gone: from then on nothing is answered.
  fake.fault("guest-ping", { kind: "hang" });
  assert.deepEqual((await request("reboot")).result, { accepted: true, mode: "reboot" });
  const offline = await availabilityAfter(from, "offline");
  fake.release(); // the new agent is up: it answers what waited in the channel, and the worker reconnects
  await availabilityAfter(client.messages.indexOf(offline), "online");
});

test("freeze and thaw: counts, events, and a command refused at once while frozen", { skip }, async () => {
  const frozen = event("frozen");
  assert.deepEqual((await request("freeze")).result, { frozen: 2 });
  await frozen;
  const seen = fake.requests.length;
  const refused = await request("guest-get-host-name");
  assert.equal(refused.error?.code, "frozen");
  assert.ok(refused.ms < 100, `refused after ${refused.ms} ms, not at once`);
  assert.ok(!fake.requests.slice(seen).some((r) => r.execute === "guest-get-host-name"), "never sent");
  const again = await request("freeze");
  assert.equal(again.error?.code, "frozen");
  const thawed = event("thawed");
  assert.deepEqual((await request("thaw")).result, { thawed: 2 });
  await thawed;
  assert.deepEqual((await request("thaw")).result, { thawed: 0 });
});

test("freeze with mountpoints: the list goes to guest-fsfreeze-freeze-list", { skip }, async () => {
  const thawed = event("thawed");
  assert.deepEqual((await request("freeze", { mountpoints: ["/data"] })).result, { frozen: 1 });
  assert.deepEqual((await request("thaw")).result, { thawed: 2 });
  await thawed;
  // Nothing frozen: the agent is not frozen either, and the worker must not think it is.
  assert.deepEqual((await request("freeze", { mountpoints: ["/nope"] })).result, { frozen: 0 });
  assert.equal((await request("guest-get-host-name")).ok, true);
  const empty = await request("freeze", { mountpoints: [] });
  assert.match(String(empty.error?.message), /args\.mountpoints: must name at least/);
});

test("a freeze left alone is thawed after fsfreeze.maxSeconds, with an auto_thawed event", {
  skip,
}, async () => {
  const state: FakeSystem = fakeSystem();
  const fake2 = await FakeAgent.start({
    path: path.join(dir, "fake2.sock"),
    commands: systemCommands(state),
  });
  const worker2 = await startWorker(dir, workerConfig("verbs-host2", fake2.path, 1));
  try {
    await client.next(`${base}/fake2/availability`, (m) => m.payload.toString() === "online");
    const autoThawed = event("auto_thawed", "fake2");
    const frozenAt = Date.now();
    assert.deepEqual((await request("freeze", undefined, "fake2")).result, { frozen: 2 });
    const record = client.json(await autoThawed);
    assert.ok(Date.now() - frozenAt >= 1000, "not before maxSeconds");
    assert.deepEqual([record.after_seconds, record.filesystems], [1, 2]);
    await fake2.waitForRequest((r) => r.execute === "guest-fsfreeze-thaw");
    assert.equal(state.frozen, false);
  } finally {
    await worker2.stop();
    await fake2.stop();
  }
});

test("sync-time sets the guest clock from the host's, as exact integer nanoseconds", { skip }, async () => {
  guest.clockOffsetMs = 3_600_000;
  const reply = await request("sync-time");
  const result = reply.result as { offset_before_ms: number; offset_after_ms: number };
  assert.ok(Math.abs(result.offset_before_ms - 3_600_000) < 100, JSON.stringify(result));
  assert.ok(Math.abs(result.offset_after_ms) < 50, JSON.stringify(result));
  const set = fake.requests.findLast((r) => r.execute === "guest-set-time");
  // A bigint here means the agent's parser read an integer (a float such as 1.7e+18 would be refused).
  const time = (set?.arguments as { time?: unknown } | undefined)?.time;
  assert.equal(typeof time, "bigint");
  assert.ok(Math.abs(Number(time) / 1e6 - Date.now()) < 5_000);
});

test("set-password: base64 to the agent; the password in no log line, event or reply", { skip }, async () => {
  const secret = `S3cret-pässwörd-${Math.random().toString(36).slice(2)}`;
  const encoded = Buffer.from(secret, "utf8").toString("base64");
  const numeric = 987_654_321_987_654;
  const from = client.messages.length;
  const logsFrom = worker.logs.length;

  const ok = await request("set-password", { user: "test", password: secret });
  assert.deepEqual([ok.ok, ok.result], [true, { user: "test" }]);
  const sent = fake.requests.findLast((r) => r.execute === "guest-set-user-password");
  assert.deepEqual(sent?.arguments, { username: "test", password: encoded, crypted: false });

  const crypted = await request("set-password", { user: "test", password: "$6$salt$hash", crypted: true });
  assert.equal(crypted.ok, true);
  const refused = await request("set-password", { user: "nobody", password: secret });
  assert.equal(refused.error?.code, "agent_error");
  assert.match(String(refused.error?.desc), /bad line \[redacted\]/);
  const wrongType = await request("set-password", { user: "test", password: numeric });
  assert.equal(wrongType.error?.message, "args.password: must be a string");
  const newline = await request("set-password", { user: "test", password: `${secret}\nroot:x` });
  assert.match(String(newline.error?.message), /must not contain a line break/);

  // Wait for the audit record of the last executed request, then look everywhere but at our own requests.
  await client.next(`${base}/fake1/event`, (m) => client.json(m).id === refused.id);
  const published = client.messages.slice(from).filter((m) => !m.topic.includes("/cmd/"));
  assert.ok(published.some((m) => m.topic.endsWith("/event")) && worker.logs.length > logsFrom);
  for (const text of [...published.map((m) => `${m.topic} ${m.payload}`), ...worker.logs.slice(logsFrom)]) {
    for (const needle of [secret, encoded, String(numeric), "pässwörd"]) {
      assert.ok(!text.includes(needle), `the password leaked: ${text}`);
    }
  }
});
