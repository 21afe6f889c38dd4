import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import parsePrometheusTextFormat, { type MetricFamily, type Sample } from "parse-prometheus-text-format";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker CLI with `http.listen` set: /healthz follows the broker, /metrics moves when a request is
 * answered over MQTT. Port 0: the worker logs the port it got, so no port is guessed.
 */
const skip = skipWithout("mosquitto");
const base = "qgah";
let dir: string;
let broker: Mosquitto;
let fake: FakeAgent;
let worker: WorkerProcess;
let client: TestClient;
let origin: string;
/** The last test stops the broker itself. */
let brokerGone = false;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-http-"));
  broker = await startMosquitto();
  fake = await FakeAgent.start({ path: path.join(dir, "fake.sock") });
  worker = await startWorker(dir, {
    worker: { id: "http-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [
      { name: "vm1", socket: fake.path },
      { name: "ghost", socket: path.join(dir, "ghost.sock") },
    ],
    agent: { connectTimeoutMs: 1000, syncTimeoutMs: 1000 },
    http: { listen: "127.0.0.1:0" },
  });
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  origin = `http://127.0.0.1:${String(listening.port)}`;
  await worker.waitForLog((line) => line.vm === "vm1" && line.msg === "guest agent online");
  client = await TestClient.connect(broker.url);
});

after(async () => {
  if (!brokerGone) await client?.close();
  await worker?.stop();
  await fake?.stop();
  if (!brokerGone) await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * The scrape parsed twice: as served (every family, with its type), and with histograms declared
 * untyped, so their _bucket/_sum/_count series keep their labels (the parser folds a labelled
 * histogram's series into one sample and drops labels, sum and count).
 */
async function scrape(): Promise<MetricFamily[]> {
  const response = await fetch(`${origin}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await response.text();
  const typed = parsePrometheusTextFormat(text);
  const flat = parsePrometheusTextFormat(text.replace(/^(# TYPE \S+) histogram$/gm, "$1 untyped"));
  return [...typed, ...flat.filter((f) => !typed.some((t) => t.name === f.name))];
}

function sample(families: MetricFamily[], name: string, labels: Record<string, string> = {}): Sample {
  const family = families.find((f) => f.name === name);
  assert.ok(family, `no metric ${name}`);
  const found = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found ?? {};
}

/** A counter's value, 0 while the series does not exist yet (a labelled series appears on first use). */
function countOf(families: MetricFamily[], name: string, labels: Record<string, string>): number {
  const family = families.find((f) => f.name === name);
  const found = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(found?.value ?? 0);
}

test("/metrics: a request moves its counter and histogram; gauges match the fleet", { skip }, async () => {
  const before = await scrape();
  const pingsBefore = countOf(before, "qga_mqtt_requests_total", { command: "ping", outcome: "ok" });
  const countBefore = countOf(before, "qga_mqtt_request_duration_seconds_count", { command: "ping" });

  const reply = client.upcoming(`${base}/vm1/reply/ping`);
  await client.subscribe(`${base}/vm1/reply/#`);
  await client.publish(`${base}/vm1/cmd/ping`, JSON.stringify({ id: "m1" }));
  assert.equal(client.json(await reply).ok, true);

  const after = await scrape();
  const ok = sample(after, "qga_mqtt_requests_total", { command: "ping", outcome: "ok" });
  assert.equal(Number(ok.value), pingsBefore + 1);
  const count = sample(after, "qga_mqtt_request_duration_seconds_count", { command: "ping" }).value;
  assert.equal(Number(count), countBefore + 1);
  assert.ok(Number(sample(after, "qga_mqtt_request_duration_seconds_sum", { command: "ping" }).value) > 0);
  const inf = sample(after, "qga_mqtt_request_duration_seconds_bucket", { command: "ping", le: "+Inf" });
  assert.equal(inf.value, count);
  assert.equal(after.find((f) => f.name === "qga_mqtt_request_duration_seconds")?.type, "HISTOGRAM");

  assert.equal(sample(after, "qga_mqtt_agents_online").value, "1");
  assert.equal(sample(after, "qga_mqtt_vms").value, "2");
  assert.equal(sample(after, "qga_mqtt_broker_connected").value, "1");
  assert.equal(sample(after, "qga_mqtt_agent_queue_depth", { vm: "vm1" }).value, "0");
  // The first status poll runs within 2 s of the start; the ping above took longer than that to arrive.
  assert.ok(after.some((f) => f.name === "qga_mqtt_status_poll_duration_seconds"));
});

test("/metrics: an unknown command is counted under one label, not the requester's words", {
  skip,
}, async () => {
  const reply = client.upcoming(`${base}/vm1/reply/no-such-thing`);
  await client.subscribe(`${base}/vm1/reply/#`);
  await client.publish(`${base}/vm1/cmd/no-such-thing`, JSON.stringify({ id: "u1" }));
  assert.equal(client.json(await reply).ok, false);
  const families = await scrape();
  const counter = families.find((f) => f.name === "qga_mqtt_requests_total");
  assert.ok(counter?.metrics.some((m) => m.labels?.command === "(unknown)"));
  assert.ok(!counter?.metrics.some((m) => m.labels?.command === "no-such-thing"));
});

test("/healthz: 200 while the broker is connected, 503 with the reason once it is gone", {
  skip,
}, async () => {
  const healthy = await fetch(`${origin}/healthz`);
  assert.equal(healthy.status, 200);
  assert.deepEqual(await healthy.json(), { status: "ok", broker: "connected", vms: 2, agents_online: 1 });
  assert.equal((await fetch(`${origin}/nope`)).status, 404);

  brokerGone = true;
  await client.close();
  await broker.stop();
  await worker.waitForLog(
    (line) => typeof line.msg === "string" && line.msg.startsWith("lost the MQTT broker"),
  );
  const down = await fetch(`${origin}/healthz`);
  assert.equal(down.status, 503);
  const body = (await down.json()) as Record<string, unknown>;
  assert.equal(body.status, "unavailable");
  assert.equal(body.broker, "disconnected");
  assert.equal(typeof body.reason, "string");
  assert.ok((body.reason as string).length > 0);
  assert.equal(body.agents_online, 1);
  const families = await scrape();
  assert.equal(sample(families, "qga_mqtt_broker_connected").value, "0");
});
