import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * A publish the broker refuses is never fatal. With the shipped ACL (config/mosquitto/acl) every documented
 * feature works, Home Assistant discovery included. With an ACL that gives the worker nothing under the
 * discovery prefix, the worker still starts and answers: the refusal (MQTT 5: PUBACK reason code 135) is
 * logged once per topic with what to change, and counted in qga_mqtt_publish_refused_total. On MQTT 3.1.1
 * mosquitto acknowledges a refused publish like any other and drops it: nothing to see, nothing to count.
 */
const skip = skipWithout("mosquitto");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const users = { "qga-worker": "worker-pw", operator: "operator-pw", homeassistant: "ha-pw" };
/** The example ACL before issue 18: the worker may write under qga/ only, Home Assistant only read. */
const NO_DISCOVERY_ACL = `user qga-worker
topic readwrite qga/#

user homeassistant
topic read qga/#
topic readwrite homeassistant/#

user operator
topic read qga/#
topic write qga/+/cmd/#
topic write qga/group/+/cmd/#
`;
let dir: string;
let shipped: Mosquitto;
let refusing: Mosquitto;
/** One agent per worker: a fake agent serves one connection at a time, as qemu-ga does. */
const agents: FakeAgent[] = [];
const workers: WorkerProcess[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-refused-"));
  const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
  shipped = await startMosquitto({ users, acl });
  refusing = await startMosquitto({ users, acl: NO_DISCOVERY_ACL });
});

after(async () => {
  for (const worker of workers) await worker.stop();
  for (const agent of agents) await agent.stop();
  await shipped?.stop();
  await refusing?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function start(broker: Mosquitto, id: string, protocolVersion: 4 | 5): Promise<WorkerProcess> {
  const agent = await FakeAgent.start({ path: path.join(dir, `${id}.sock`) });
  agents.push(agent);
  const worker = await startWorker(
    dir,
    {
      worker: { id },
      mqtt: { url: broker.url, username: "qga-worker", protocolVersion },
      vms: [{ name: "vm1", socket: agent.path }],
      homeassistant: { enabled: true },
      http: { listen: "127.0.0.1:0" },
      log: { level: "debug" },
    },
    { QGA_MQTT_MQTT_PASSWORD: users["qga-worker"] },
  );
  workers.push(worker);
  return worker;
}

async function scrape(worker: WorkerProcess): Promise<MetricFamily[]> {
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  const response = await fetch(`http://127.0.0.1:${String(listening.port)}/metrics`);
  assert.equal(response.status, 200);
  return parsePrometheusTextFormat(await response.text());
}

function refusedCount(families: MetricFamily[], kind: string): number {
  const family = families.find((f) => f.name === "qga_mqtt_publish_refused_total");
  assert.ok(family, "no qga_mqtt_publish_refused_total");
  const found = family.metrics.find((m) => m.labels?.topic_kind === kind);
  assert.ok(found, `no qga_mqtt_publish_refused_total series for topic_kind="${kind}"`);
  return Number(found.value);
}

/** A ping from the operator, answered on the VM's reply topic. */
async function ping(broker: Mosquitto, id: string): Promise<Record<string, unknown>> {
  const operator = await TestClient.connect(broker.url, { username: "operator", password: users.operator });
  try {
    await operator.subscribe("qga/vm1/reply/ping");
    const reply = operator.next("qga/vm1/reply/ping", (m) => operator.json(m).id === id);
    await operator.publish("qga/vm1/cmd/ping", JSON.stringify({ id }));
    return operator.json(await reply);
  } finally {
    await operator.close();
  }
}

const isRefusal = (line: Record<string, unknown>) =>
  /refused|refuses/.test(String(line.msg)) && "topic" in line;

/** The worker's log lines as objects (every stdout line is pino JSON). */
function lines(worker: WorkerProcess): Record<string, unknown>[] {
  return worker.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

test("the shipped ACL with Home Assistant discovery on: the worker starts, stays up, announces and answers", {
  skip,
}, async () => {
  const worker = await start(shipped, "shipped", 5);
  const ha = await TestClient.connect(shipped.url, {
    username: "homeassistant",
    password: users.homeassistant,
  });
  try {
    // The worker wrote its discovery config (retained) and Home Assistant may read it.
    await ha.subscribe("homeassistant/device/qga_vm1/config");
    const config = ha.json(await ha.next("homeassistant/device/qga_vm1/config"));
    assert.ok("device" in config && "components" in config, JSON.stringify(config));
    // Home Assistant's birth message reaches the worker, which announces again.
    const again = ha.upcoming("homeassistant/device/qga_vm1/config");
    await ha.publish("homeassistant/status", "online");
    assert.ok(await again);
    // A button: Home Assistant may send the verbs its buttons publish; the status verb republishes the
    // snapshot its sensors read (replies are not Home Assistant's to read: the ACL gives it none).
    await ha.subscribe("qga/vm1/status");
    await ha.next("qga/vm1/status");
    const status = ha.upcoming("qga/vm1/status");
    await ha.publish("qga/vm1/cmd/status", "{}");
    assert.equal(ha.json(await status).vm, "vm1");
  } finally {
    await ha.close();
  }
  assert.equal((await ping(shipped, "shipped-1")).ok, true);
  // The CLI as the operator: MQTT 5 replies come to qga/bridge/<caller>/replies, which the ACL lets it read.
  const call = await runCli(["call", "vm1", "ping", "--json", "--url", shipped.url], {
    QGA_MQTT_MQTT_USERNAME: "operator",
    QGA_MQTT_MQTT_PASSWORD: users.operator,
  });
  assert.equal(call.code, 0, call.stdout + call.stderr);
  assert.equal(JSON.parse(call.stdout).ok, true);
  const families = await scrape(worker);
  for (const kind of ["discovery", "bridge_state", "bridge_info", "status", "availability", "reply"]) {
    assert.equal(refusedCount(families, kind), 0, kind);
  }
  assert.equal(lines(worker).filter(isRefusal).length, 0, worker.logs.join("\n"));
  assert.equal(worker.process.exitCode, null);
});

test("MQTT 5, an ACL without the discovery prefix: warned once per topic, counted, and the rest works", {
  skip,
}, async () => {
  const worker = await start(refusing, "refusing", 5);
  const topic = "homeassistant/device/qga_bridge_refusing/config";
  const first = await worker.waitForLog((l) => isRefusal(l) && l.topic === topic);
  assert.equal(first.level, 40, "a warning");
  assert.equal(first.reasonCode, 135);
  assert.equal(first.topic_kind, "discovery");
  assert.match(String(first.msg), /not authorized/i);
  assert.match(String(first.msg), /give that user write access to homeassistant\/device\/\+\/config/);
  assert.equal((await ping(refusing, "refusing-1")).ok, true);

  // After a broker restart the worker publishes its retained topics again: refused again, not warned again.
  await refusing.restart();
  const repeated = await worker.waitForLog((l) => isRefusal(l) && l.topic === topic && l.level === 20);
  assert.equal(repeated.reasonCode, 135);
  const warnings = lines(worker).filter((l) => isRefusal(l) && l.topic === topic);
  assert.equal(warnings.filter((l) => l.level === 40).length, 1, "one warning for the topic");

  assert.equal((await ping(refusing, "refusing-2")).ok, true);
  const families = await scrape(worker);
  assert.ok(refusedCount(families, "discovery") >= 2, "the first refusal and the one after the restart");
  assert.equal(refusedCount(families, "reply"), 0);
  // The label is the kind of topic, never the topic itself (unbounded: one per VM, per response topic).
  const family = families.find((f) => f.name === "qga_mqtt_publish_refused_total");
  for (const metric of family?.metrics ?? []) {
    assert.deepEqual(Object.keys(metric.labels ?? {}), ["topic_kind"]);
    assert.ok(!String(metric.labels?.topic_kind).includes("/"));
  }
  assert.equal(worker.process.exitCode, null, "still running");
});

test("MQTT 3.1.1, the same ACL: mosquitto drops the refused publish silently; the worker runs on", {
  skip,
}, async () => {
  const worker = await start(refusing, "refusing-v4", 4);
  assert.equal((await ping(refusing, "refusing-v4")).ok, true);
  // The discovery configs were published (and acknowledged) before "worker ready": nothing was refused.
  const families = await scrape(worker);
  assert.equal(refusedCount(families, "discovery"), 0);
  assert.equal(lines(worker).filter(isRefusal).length, 0);
  assert.equal(worker.process.exitCode, null);
});

test("qga-mqtt call: a command the caller may not publish fails at once, saying so", { skip }, async () => {
  const call = await runCli(["call", "vm1", "guest-get-osinfo", "--url", shipped.url, "--timeout", "30"], {
    QGA_MQTT_MQTT_USERNAME: "homeassistant",
    QGA_MQTT_MQTT_PASSWORD: users.homeassistant,
  });
  assert.equal(call.code, 4, call.stdout + call.stderr);
  assert.match(
    call.stderr,
    /the broker refused the publish to qga\/vm1\/cmd\/guest-get-osinfo \(not authorized.*\): .*write access/i,
  );
});
