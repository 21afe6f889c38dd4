import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorWithReasonCode } from "mqtt";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import pino from "pino";
import { WorkerMetrics } from "../../src/http/metrics.js";
import { PublishRefusedError, refusalOf } from "../../src/mqtt/publish-refusal.js";
import { RefusedPublishes } from "../../src/mqtt/refused-publishes.js";
import { TOPIC_KINDS, TopicKinds } from "../../src/mqtt/topic-kind.js";

test("a PUBACK refusal is told from the other publish failures", () => {
  const refusal = refusalOf("qga/vm1/status", new ErrorWithReasonCode("Publish error: Not authorized", 135));
  assert.deepEqual(refusal, { topic: "qga/vm1/status", reasonCode: 135, reason: "Not authorized" });
  assert.deepEqual(
    refusalOf("t", new ErrorWithReasonCode("Publish error: Quota exceeded", 0x97))?.reasonCode,
    0x97,
  );
  // Below 0x80 a reason code is a success; a socket error or a timeout may go through on the next try.
  assert.equal(
    refusalOf("t", new ErrorWithReasonCode("Publish error: No matching subscribers", 16)),
    undefined,
  );
  assert.equal(
    refusalOf("t", Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })),
    undefined,
  );
  assert.equal(refusalOf("t", new Error("the broker did not acknowledge t in time")), undefined);
  assert.equal(refusalOf("t", undefined), undefined);
  const error = new PublishRefusedError({
    topic: "qga/vm1/cmd/ping",
    reasonCode: 135,
    reason: "Not authorized",
  });
  assert.match(
    error.message,
    /refused the publish to qga\/vm1\/cmd\/ping \(Not authorized, reason code 135\): .*ACL/,
  );
});

test("topic kinds: a fixed set, whatever the topic", () => {
  for (const base of ["qga", "site/qga"]) {
    const kinds = new TopicKinds(base, "homeassistant");
    const cases: Array<[string, string]> = [
      [`${base}/bridge/h1/state`, "bridge_state"],
      [`${base}/bridge/h1/info`, "bridge_info"],
      [`${base}/bridge/qga-mqtt-call-1a2b/replies`, "caller_reply"],
      [`${base}/web1/availability`, "availability"],
      [`${base}/web1/status`, "status"],
      [`${base}/web1/event`, "event"],
      [`${base}/web1/reply/guest-get-osinfo`, "reply"],
      [`${base}/web1/cmd/reboot`, "command"],
      [`${base}/group/all/cmd/ping`, "command"],
      ["homeassistant/device/qga_web1/config", "discovery"],
      ["my-script/replies", "other"],
      [`${base}/web1/something/else/entirely`, "other"],
      [`${base}/bridge/h1/unknown`, "other"],
    ];
    for (const [topic, kind] of cases) assert.equal(kinds.kindOf(topic), kind, topic);
  }
  // Discovery off: Home Assistant's topics are nobody's.
  assert.equal(new TopicKinds("qga").kindOf("homeassistant/device/x/config"), "other");
});

test("the grant named for each kind is what config/mosquitto/acl gives the worker", () => {
  const kinds = new TopicKinds("qga", "homeassistant");
  assert.deepEqual(kinds.grantFor("qga/web1/status"), { filter: "qga/#", access: "readwrite" });
  assert.deepEqual(kinds.grantFor("homeassistant/device/qga_web1/config"), {
    filter: "homeassistant/device/+/config",
    access: "readwrite",
  });
  assert.deepEqual(kinds.grantFor("my-script/replies"), { filter: "my-script/replies", access: "write" });
});

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const metrics = new WorkerMetrics();
  const refusals = new RefusedPublishes({ log, kinds: new TopicKinds("qga", "homeassistant"), metrics });
  const refuse = (topic: string, reasonCode = 135) =>
    refusals.report({ topic, reasonCode, reason: reasonCode === 135 ? "Not authorized" : "Quota exceeded" });
  const count = async (kind: string) => {
    const families = parsePrometheusTextFormat(await metrics.registry.metrics());
    const family = families.find((f) => f.name === "qga_mqtt_publish_refused_total");
    return Number(family?.metrics.find((m) => m.labels?.topic_kind === kind)?.value);
  };
  return { lines, refuse, count };
}

test("warned once per topic with the reason and what to grant; every refusal counted", async () => {
  const { lines, refuse, count } = setup();
  assert.equal(await count("discovery"), 0, "every kind exists from the start");
  refuse("homeassistant/device/qga_web1/config");
  refuse("homeassistant/device/qga_web1/config");
  refuse("homeassistant/device/qga_web1/config");
  refuse("qga/web1/status");
  const warnings = lines.filter((l) => l.level === 40);
  assert.deepEqual(
    warnings.map((l) => l.topic),
    ["homeassistant/device/qga_web1/config", "qga/web1/status"],
  );
  assert.equal(lines.filter((l) => l.level === 20).length, 2, "the repeats at debug");
  const [first] = warnings;
  assert.equal(first?.topic_kind, "discovery");
  assert.equal(first?.reasonCode, 135);
  assert.match(String(first?.msg), /\(Not authorized, reason code 135\)/);
  assert.match(String(first?.msg), /"topic readwrite homeassistant\/device\/\+\/config"/);
  assert.match(String(warnings[1]?.msg), /"topic readwrite qga\/#"/);
  assert.equal(await count("discovery"), 3);
  assert.equal(await count("status"), 1);
  assert.equal(await count("reply"), 0);
});

test("warnings are bounded per kind: a thousand VMs refused make a dozen lines, not a thousand", async () => {
  const { lines, refuse, count } = setup();
  for (let vm = 0; vm < 1000; vm++) refuse(`homeassistant/device/qga_vm${vm}/config`);
  const warnings = lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 11);
  assert.match(
    String(warnings.at(-1)?.msg),
    /more than 10 discovery topics were refused: the next ones are logged at debug only/,
  );
  assert.equal(await count("discovery"), 1000);
  // Another kind has a budget of its own.
  refuse("qga/vm1/event");
  assert.equal(lines.filter((l) => l.level === 40).length, 12);
});

test("another reason than the ACL gets its own advice", () => {
  const { lines, refuse } = setup();
  refuse("qga/vm1/reply/read-file", 0x97);
  assert.match(String(lines[0]?.msg), /Quota exceeded, reason code 151\): the broker's quota/);
  assert.doesNotMatch(String(lines[0]?.msg), /acl_file/);
});

test("the metric's label set is the fixed kinds", async () => {
  const metrics = new WorkerMetrics();
  const families = parsePrometheusTextFormat(await metrics.registry.metrics());
  const family = families.find((f) => f.name === "qga_mqtt_publish_refused_total");
  assert.deepEqual(family?.metrics.map((m) => m.labels?.topic_kind).sort(), [...TOPIC_KINDS].sort());
});
