import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { Registry } from "prom-client";
import { Config } from "../../src/config/schema.js";
import { GuestMetrics } from "../../src/http/guest-metrics.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";

/** A real qemu-ga 7.2 snapshot: one filesystem, eth0 plus two ifb interfaces, ten CPU modes, no load. */
const real = StatusSnapshot.parse(
  JSON.parse(readFileSync(new URL("fixtures/status-real-qga-7.2.json", import.meta.url), "utf8")),
);
/** What an agent 10.0+ adds: the load averages. */
const typical: StatusSnapshot = { ...real, load: { "1m": 0.5, "5m": 0.25, "15m": 0.125 } };

async function scrape(registry: Registry): Promise<MetricFamily[]> {
  return parsePrometheusTextFormat(await registry.metrics());
}

function values(
  families: MetricFamily[],
  name: string,
): Array<{ labels: Record<string, string>; value: number }> {
  const family = families.find((f) => f.name === name);
  return (family?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
}

test("a typical snapshot: 26 series per VM with the defaults (26,000 for 1,000 VMs)", async () => {
  const registry = new Registry();
  const guest = new GuestMetrics({ registry, worker: "w1" });
  for (let i = 0; i < 1000; i++) guest.update({ ...typical, vm: `vm${i}` }, 0.01);
  assert.equal(guest.seriesCount(), 26_000);
  const families = await scrape(registry);
  const total = families
    .filter((f) => f.name.startsWith("qga_guest_"))
    .reduce((n, f) => n + f.metrics.length, 0);
  assert.equal(total, 26_000);
});

test("values, labels and types follow the snapshot", async () => {
  const registry = new Registry();
  const guest = new GuestMetrics({ registry, worker: "w1" });
  guest.update(typical, 0.25);
  const families = await scrape(registry);
  const base = { vm: typical.vm, worker: "w1" };
  assert.deepEqual(values(families, "qga_guest_agent_up"), [{ labels: base, value: 1 }]);
  assert.deepEqual(values(families, "qga_guest_agent_info"), [
    { labels: { ...base, version: "7.2.22" }, value: 1 },
  ]);
  assert.deepEqual(values(families, "qga_guest_filesystem_size_bytes"), [
    { labels: { ...base, mountpoint: "/", type: "ext4" }, value: 108944293888 },
  ]);
  // ifb0 and ifb1 are excluded by default (and carry no counters anyway).
  assert.deepEqual(
    values(families, "qga_guest_network_receive_bytes_total").map((v) => v.labels.interface),
    ["eth0"],
  );
  const cpu = families.find((f) => f.name === "qga_guest_cpu_seconds_total");
  assert.equal(cpu?.type, "COUNTER");
  assert.equal(cpu?.metrics.find((m) => m.labels?.mode === "user")?.value, "3421.45");
  assert.deepEqual(values(families, "qga_guest_clock_offset_seconds"), [{ labels: base, value: -0.000014 }]);
  assert.deepEqual(values(families, "qga_guest_load15"), [{ labels: base, value: 0.125 }]);
  assert.deepEqual(values(families, "qga_guest_poll_duration_seconds"), [{ labels: base, value: 0.25 }]);
  const success = values(families, "qga_guest_last_poll_success_timestamp_seconds")[0]?.value;
  assert.equal(success, Date.parse(typical.updated) / 1000);
});

test("an agent gone: up 0, the guest's readings gone, the last success kept", async () => {
  const registry = new Registry();
  const guest = new GuestMetrics({ registry, worker: "w1" });
  guest.update(typical, 0.1);
  guest.update({ vm: typical.vm, agent: "offline", updated: new Date().toISOString() }, 3);
  const families = await scrape(registry);
  assert.equal(values(families, "qga_guest_agent_up")[0]?.value, 0);
  assert.deepEqual(values(families, "qga_guest_filesystem_used_bytes"), []);
  assert.deepEqual(values(families, "qga_guest_cpu_seconds_total"), []);
  const success = values(families, "qga_guest_last_poll_success_timestamp_seconds")[0]?.value;
  assert.equal(success, Date.parse(typical.updated) / 1000);
});

test("a removed VM's series are gone at the next scrape", async () => {
  const registry = new Registry();
  const guest = new GuestMetrics({ registry, worker: "w1" });
  guest.update({ ...typical, vm: "a" }, 0.1);
  guest.update({ ...typical, vm: "b" }, 0.1);
  guest.remove("a");
  const families = await scrape(registry);
  const vms = new Set(
    families
      .filter((f) => f.name.startsWith("qga_guest_"))
      .flatMap((f) => f.metrics.map((m) => m.labels?.vm)),
  );
  assert.deepEqual([...vms], ["b"]);
});

test("the configuration bounds the mount points and interfaces a guest can make series of", async () => {
  const config = Config.parse({
    metrics: { mountpoints: { max: 2 }, interfaces: { include: ["^eth"], exclude: [] } },
  }).metrics;
  const registry = new Registry();
  const guest = new GuestMetrics({ registry, worker: "w1", config });
  const fs = (mountpoint: string, type = "ext4") => ({
    mountpoint,
    type,
    used_bytes: 1,
    total_bytes: 2,
    used_pct: 50,
  });
  const iface = (name: string) => ({ name, ipv4: [], ipv6: [], rx_bytes: 1 });
  guest.update(
    {
      ...typical,
      filesystems: [fs("/run/x"), fs("/snap/core/1", "squashfs"), fs("/"), fs("/"), fs("/boot"), fs("/data")],
      interfaces: [iface("eth0"), iface("veth1"), iface("ens3"), iface("eth1")],
    },
    0.1,
  );
  const families = await scrape(registry);
  const mounts = values(families, "qga_guest_filesystem_used_bytes").map((v) => v.labels.mountpoint);
  assert.deepEqual(mounts, ["/", "/boot"]);
  const names = values(families, "qga_guest_network_receive_bytes_total").map((v) => v.labels.interface);
  assert.deepEqual(names, ["eth0", "eth1"]);
});

test("a pattern that is not a regular expression is refused by the schema", () => {
  const result = Config.safeParse({ metrics: { interfaces: { exclude: ["("] } } });
  assert.equal(result.success, false);
});
