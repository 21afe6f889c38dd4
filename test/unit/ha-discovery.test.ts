import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import nunjucks from "nunjucks";
import { Policy } from "../../src/commands/policy.js";
import { type Component, safeId, type VmFacts } from "../../src/ha/component.js";
import { type DeviceConfig, vmDiscovery, withRemovals } from "../../src/ha/discovery.js";
import { filesystemKey } from "../../src/ha/entities.js";
import { Topics } from "../../src/mqtt/topics.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";
import { DeviceDiscovery } from "./ha-schema.js";

/*
 * The discovery payloads against the keys Home Assistant documents (ha-schema.ts), and every template
 * rendered with nunjucks against a status snapshot a real qemu-ga 7.2 produced (captured from the worker
 * with startRealAgent into fixtures/status-real-qga-7.2.json). Home Assistant renders with Jinja and
 * autoescape off; nunjucks has no `tojson`, so Jinja's (JSON, HTML-safe) is registered as JSON.stringify.
 */
const env = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false });
env.addFilter("tojson", (value: unknown) => JSON.stringify(value));

const real = StatusSnapshot.parse(
  JSON.parse(readFileSync(new URL("./fixtures/status-real-qga-7.2.json", import.meta.url), "utf8")),
);
/** The real snapshot plus what qemu-ga 7.2 does not report (load, CPU %) and a user and a second mount. */
const richer = StatusSnapshot.parse({
  ...real,
  load: { "1m": 0.42, "5m": 0.3, "15m": 0.25 },
  cpu_pct: 12.5,
  users: [{ name: "alice", login_time: "2026-11-26T16:00:00.000Z" }],
  filesystems: [
    ...(real.filesystems ?? []),
    { mountpoint: "/var/lib/docker", type: "xfs", used_bytes: 9e9, total_bytes: 1e10, used_pct: 90 },
  ],
});

const topics = new Topics("qga", "host-a");
const policy = new Policy({ default: ["read", "power"], groups: { ops: ["all"] }, vms: {} });

function facts(status: StatusSnapshot | undefined, groups: string[] = []): VmFacts {
  return {
    vm: "web-1",
    worker: "host-a",
    topics,
    status,
    allowed: policy.allowedFor("web-1", groups),
    version: "1.2.3",
  };
}

function render(template: string, status: StatusSnapshot): string {
  return env.renderString(template, { value_json: JSON.parse(JSON.stringify(status)) }).trim();
}

function components(config: DeviceConfig): Record<string, Component & Record<string, unknown>> {
  return config.components as Record<string, Component & Record<string, unknown>>;
}

/** Each entity's state as Home Assistant would render it from the status topic. */
function states(config: DeviceConfig, status: StatusSnapshot): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, component] of Object.entries(components(config))) {
    const template = component.value_template;
    if (typeof template !== "string") continue;
    assert.equal(component.state_topic, "qga/web-1/status", key);
    result[key] = render(template, status);
    assert.notEqual(result[key], "", `${key} renders empty`);
    if (component.state_class === "measurement")
      assert.ok(Number.isFinite(Number(result[key])), `${key}: ${result[key]}`);
    if (typeof component.json_attributes_template === "string") {
      const attributes: unknown = JSON.parse(render(component.json_attributes_template, status));
      assert.ok(typeof attributes === "object" && attributes !== null && !Array.isArray(attributes), key);
    }
  }
  return result;
}

test("every payload has only the keys Home Assistant documents", () => {
  for (const status of [undefined, real, richer]) {
    for (const groups of [[], ["ops"]]) {
      const config = vmDiscovery(facts(status, groups));
      const result = DeviceDiscovery.safeParse(config);
      assert.ok(result.success, result.error?.message);
      const ids = Object.values(config.components).map((c) => c.unique_id);
      assert.equal(new Set(ids).size, ids.length, "unique ids are unique");
    }
  }
  const dropped = withRemovals(vmDiscovery(facts(real)), vmDiscovery(facts(richer)));
  assert.ok(DeviceDiscovery.safeParse(dropped).success);
  // The unmounted filesystem is removed from the device by its platform alone.
  assert.deepEqual(components(dropped)[filesystemKey("/var/lib/docker")], { platform: "sensor" });
});

test("each entity of a real agent's snapshot gets the value a person expects", () => {
  const config = vmDiscovery(facts(real));
  assert.deepEqual(states(config, real), {
    hostname: "vm",
    os: "Debian GNU/Linux 12 (bookworm)",
    kernel: "6.18.44-fc-v669",
    ipv4: "192.0.2.2",
    ipv6: "fd00::2",
    fs_root: "22.4",
    users: "0",
    vcpus: "2",
    clock_offset: "-0.014",
    agent_version: "7.2.22",
  });
  const ipv6 = components(config).ipv6?.json_attributes_template as string;
  assert.deepEqual(JSON.parse(render(ipv6, real)).eth0, ["fd00::2", "fe80::fc:ff:fe00:1"]);
  assert.equal(config.device.model, "Debian GNU/Linux 12 (bookworm)");
  assert.equal(config.device.sw_version, "6.18.44-fc-v669");
  assert.equal(config.device.via_device, "qga_bridge_host-a");
});

test("load, CPU, users and every mount point appear where the snapshot has them", () => {
  const config = vmDiscovery(facts(richer));
  const values = states(config, richer);
  assert.equal(values.load, "0.42");
  assert.equal(values.cpu, "12.5");
  assert.equal(values.users, "1");
  const docker = Object.entries(components(config)).find(([, c]) => c.name === "Disk /var/lib/docker");
  assert.ok(docker);
  assert.equal(values[docker[0]], "90");
  const attributes = JSON.parse(render(String(docker[1].json_attributes_template), richer));
  assert.deepEqual(attributes, { type: "xfs", used_bytes: 9e9, total_bytes: 1e10 });
  assert.equal(components(config).cpu?.unit_of_measurement, "%");
  assert.equal(components(config).clock_offset?.entity_category, "diagnostic");
});

test("buttons only for allowed verbs, publishing to the cmd topics", () => {
  const buttons = (groups: string[]) =>
    Object.values(components(vmDiscovery(facts(real, groups))))
      .filter((c) => c.platform === "button")
      .map((c) => String(c.command_topic).split("/").pop())
      .sort();
  assert.deepEqual(buttons([]), ["halt", "reboot", "shutdown", "status"]);
  assert.deepEqual(buttons(["ops"]), ["halt", "reboot", "shutdown", "status", "sync-time", "thaw"]);
  const reboot = components(vmDiscovery(facts(real))).button_reboot;
  assert.equal(reboot?.command_topic, "qga/web-1/cmd/reboot");
  assert.equal(reboot?.availability_mode, "all");
});

function availabilityTopics(component: Record<string, unknown> | undefined): string[] {
  const list = (component?.availability ?? []) as Array<{ topic: string }>;
  return list.map((a) => a.topic);
}

test("the schema refuses an undocumented key, and a key of another platform", () => {
  const config = vmDiscovery(facts(real));
  const hostname = { ...components(config).hostname, colour: "red" };
  assert.ok(!DeviceDiscovery.safeParse({ ...config, components: { hostname } }).success);
  const pressable = { ...components(config).hostname, payload_press: "{}" };
  assert.ok(!DeviceDiscovery.safeParse({ ...config, components: { hostname: pressable } }).success);
  assert.ok(!DeviceDiscovery.safeParse({ ...config, colour: "red" }).success);
});

test("availability: worker state and the VM's agent together; the agent entity follows the worker only", () => {
  const config = components(vmDiscovery(facts(real)));
  assert.deepEqual(availabilityTopics(config.hostname), [
    "qga/bridge/host-a/state",
    "qga/web-1/availability",
  ]);
  assert.equal(config.hostname?.availability_mode, "all");
  assert.equal(config.agent?.state_topic, "qga/web-1/availability");
  assert.deepEqual(availabilityTopics(config.agent), ["qga/bridge/host-a/state"]);
});

test("unique ids are safe and stable", () => {
  assert.equal(safeId("web-1"), "web-1");
  assert.notEqual(safeId("a.b"), safeId("a_b"));
  assert.match(safeId("a.b"), /^a_b_[0-9a-f]{6}$/);
  assert.equal(safeId("a.b"), safeId("a.b"));
  const odd = vmDiscovery({ ...facts(real), vm: "wéb.1" });
  for (const component of Object.values(odd.components))
    assert.match(String(component.unique_id), /^qga_[\w-]+$/);
});
