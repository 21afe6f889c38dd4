import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { startCli } from "../helpers/cli-process.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * `qga-mqtt watch` as a user runs it, against a worker whose status comes rarely (as in the demo, only on
 * change and on the heartbeat): what it prints at once, and in which shape.
 */
const skip = skipWithout("mosquitto");
const base = "watch";
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];
let worker: WorkerProcess | undefined;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-watch-"));
  broker = await startMosquitto();
  const names = ["demo1", "demo2", "demo3"];
  for (const name of names) agents.push(await FakeAgent.start({ path: path.join(dir, `${name}.sock`) }));
  worker = await startWorker(dir, {
    worker: { id: "w1" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: names.map((name) => ({ name, socket: path.join(dir, `${name}.sock`) })),
    // demo3 may only be pinged: asking it for a status is refused.
    policy: { default: ["read"], vms: { demo3: ["guest-ping"] } },
    // No regular poll publishes during the test: status comes on change, the heartbeat, or when asked.
    status: { intervalSeconds: 86_400 },
  });
  // Each VM's first status is published once its agent is seen online: wait for all three.
  const observer = await TestClient.connect(broker.url);
  await observer.subscribe(`${base}/+/status`);
  for (const name of names) await observer.next(`${base}/${name}/status`);
  await observer.close();
});

after(async () => {
  await worker?.stop();
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function watch(args: string[]) {
  return startCli(["watch", ...args], { QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_BASE_TOPIC: base });
}

function parsed(line: string): { topic: string; retained: boolean; payload: unknown } {
  return JSON.parse(line) as { topic: string; retained: boolean; payload: unknown };
}

test("--json: each payload is the JSON value it is (a string when it is not JSON), other members kept", {
  skip,
}, async (t) => {
  const cli = watch(["demo1", "--json"]);
  t.after(() => cli.stop());
  const status = parsed(await cli.line("stdout", (line) => line.includes(`"${base}/demo1/status"`)));
  assert.equal(typeof status.payload, "object", `payload should be an object: ${JSON.stringify(status)}`);
  assert.equal((status.payload as { vm?: unknown }).vm, "demo1");
  assert.equal(typeof status.retained, "boolean");
  const availability = parsed(
    await cli.line("stdout", (line) => line.includes(`"${base}/demo1/availability"`)),
  );
  assert.deepEqual(availability, { topic: `${base}/demo1/availability`, retained: true, payload: "online" });
  assert.equal(await cli.stop(), 0);
  // --json is for programs: no banner for people on stderr.
  assert.deepEqual(cli.lines.stderr, []);
});

test("its first line (stderr) says what it watches and when status comes", { skip }, async (t) => {
  const cli = watch(["demo1"]);
  t.after(() => cli.stop());
  await cli.line("stdout", (line) => line.includes(`${base}/demo1/status {`));
  assert.match(
    cli.lines.stderr[0] ?? "",
    /^watching demo1 .*: status is published on change and at least every status\.heartbeatSeconds \(300 s/,
  );
  const all = watch([]);
  t.after(() => all.stop());
  await all.line("stderr", (line) => line.startsWith("watching every VM"));
});

test("watch asks for a fresh status: one comes though the broker holds none", { skip }, async (t) => {
  // The broker forgets demo2's status; its worker publishes the next only on change or the heartbeat.
  const client = await TestClient.connect(broker.url);
  t.after(() => client.close());
  await client.publish(`${base}/demo2/status`, "", { retain: true });
  const cli = watch(["demo2", "--json"]);
  t.after(() => cli.stop());
  const status = parsed(await cli.line("stdout", (line) => line.includes(`"${base}/demo2/status"`), 10_000));
  assert.equal((status.payload as { vm?: unknown }).vm, "demo2");
});

test("a VM whose policy refuses the status request: watch says so, and keeps watching", {
  skip,
}, async (t) => {
  const cli = watch(["demo3"]);
  t.after(() => cli.stop());
  const said = await cli.line("stderr", (line) => /forbidden/.test(line));
  assert.match(said, /demo3/);
  await cli.line("stdout", (line) => line.endsWith(`${base}/demo3/availability online`));
  assert.equal(await cli.stop(), 0);
});

test("a VM no worker serves: watch says so with the known VMs, and keeps watching", { skip }, async (t) => {
  const cli = watch(["demo4"]);
  t.after(() => cli.stop());
  const said = await cli.line("stderr", (line) => line.startsWith("demo4 is not served by any worker"));
  assert.match(said, /known: demo1, demo2, demo3/);
  assert.equal(await cli.stop(), 0);
});
