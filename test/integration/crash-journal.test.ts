import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { FakeGuest } from "../fakes/fake-guest.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * Nothing runs twice, also across a crash (issue 19, point 1). Before, an exec was sent, the worker was
 * killed (SIGKILL) while it ran, started again, and the client's retry with the same id ran it a second
 * time: the dedupe window lived only in memory. Now the ids of commands that change the guest are
 * journaled (SQLite in the state folder) before they reach the agent.
 */
const skip = skipWithout("mosquitto");
const base = "qga";
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;
const guest = new FakeGuest();
let worker: WorkerProcess | undefined;
let client: TestClient;

const config = () => ({
  worker: { id: "crash-host" },
  mqtt: { url: broker.url, baseTopic: base },
  vms: [{ name: "vm1", socket: agent.path }],
  policy: { default: ["read", "exec"] },
});

async function start(): Promise<WorkerProcess> {
  const started = await startWorker(dir, config());
  await started.waitForLog(
    (line) => line.msg === "request journal open: ids of commands that change a guest survive a restart",
  );
  return started;
}

async function kill(victim: WorkerProcess): Promise<void> {
  const exited = once(victim.process, "exit");
  victim.process.kill("SIGKILL");
  await exited;
}

async function exec(id: string, marker: string): Promise<Record<string, unknown>> {
  const reply = client.upcoming(`${base}/vm1/reply/exec`, (m) => client.json(m).id === id);
  await client.publish(`${base}/vm1/cmd/exec`, JSON.stringify({ id, args: { path: marker }, timeout: 30 }));
  return client.json(await reply);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-crash-"));
  broker = await startMosquitto();
  agent = await FakeAgent.start({ path: path.join(dir, "vm1.sock"), commands: guest.commands() });
  client = await TestClient.connect(broker.url);
  await client.subscribe(`${base}/vm1/reply/#`);
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const runs = (marker: string) => guest.started.filter((s) => s.path === marker).length;

test("a command in flight when the worker is killed is not run again: the retry gets `interrupted`", {
  skip,
}, async () => {
  guest.program = (started) =>
    started.path === "/bin/slow" ? { runMs: 60_000 } : { exitcode: 0, out: "done\n" };
  worker = await start();
  const reached = agent.waitForRequest((r) => r.execute === "guest-exec");
  const first = client.publish(
    `${base}/vm1/cmd/exec`,
    JSON.stringify({ id: "crash-1", args: { path: "/bin/slow" } }),
  );
  await first;
  await reached;
  await kill(worker);
  worker = await start();
  const retry = await exec("crash-1", "/bin/slow");
  assert.equal(retry.ok, false);
  assert.equal((retry.error as { code: string }).code, "interrupted", JSON.stringify(retry));
  assert.match((retry.error as { message: string }).message, /may or may not have run.*new id/);
  assert.equal(runs("/bin/slow"), 1, "the program was started again");
});

test("a command that finished before the crash: the retry gets the kept reply, and nothing runs", {
  skip,
}, async () => {
  worker ??= await start();
  const first = await exec("done-1", "/bin/quick");
  assert.equal(first.ok, true, JSON.stringify(first));
  await kill(worker);
  worker = await start();
  const retry = await exec("done-1", "/bin/quick");
  assert.deepEqual(retry, first);
  assert.equal(runs("/bin/quick"), 1);
  // A new id runs.
  assert.equal((await exec("done-2", "/bin/quick")).ok, true);
  assert.equal(runs("/bin/quick"), 2);
});

test("reads are not journaled: a ping's id may run again after a restart", { skip }, async () => {
  worker ??= await start();
  const ping = async () => {
    const reply = client.upcoming(`${base}/vm1/reply/ping`, (m) => client.json(m).id === "read-1");
    await client.publish(`${base}/vm1/cmd/ping`, '{"id":"read-1"}');
    return client.json(await reply);
  };
  const first = await ping();
  assert.equal(first.ok, true);
  await kill(worker);
  worker = await start();
  const again = await ping();
  assert.equal(again.ok, true);
  // Answered by a new run (its own round trip), not from a journal (which would be the first reply whole).
  assert.notDeepEqual(again, first);
});
