import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format";
import { compareQemuVersions } from "../../src/qga/catalogue/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { type RealAgent, realAgentVersions, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker CLI's /metrics against the real qemu-ga: the qga_guest_* series carry what the agent itself
 * answers, for each real agent version (7.2 as VM "real", 10.0 as "real10": test/helpers/qemu-ga.ts). A
 * Proxmox VM (the preset on temporary folders) is destroyed: its conf goes, and its series with it.
 */
const skip = skipWithout("mosquitto", "qemu-ga");
const versions = realAgentVersions().map((agent, i) => ({ ...agent, vm: i === 0 ? "real" : "real10" }));
let dir: string;
let broker: Mosquitto;
const reals = new Map<string, RealAgent>();
let fake: FakeAgent | undefined;
let worker: WorkerProcess;
let origin: string;
let client: TestClient;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-guest-metrics-"));
  await mkdir(path.join(dir, "run"));
  await mkdir(path.join(dir, "conf"));
  await writeFile(path.join(dir, "conf", "101.conf"), "name: brief\nagent: 1\n");
  broker = await startMosquitto();
  // Subscribed before the worker starts: a cleared (empty retained) status is only seen live.
  client = await TestClient.connect(broker.url);
  await client.subscribe("qgagm/+/status");
  for (const { vm, binary, skip: missing } of versions) {
    if (!missing) reals.set(vm, await startRealAgent({ binary }));
  }
  fake = await FakeAgent.start({ path: path.join(dir, "run", "101.qga") });
  worker = await startWorker(dir, {
    worker: { id: "gm-host" },
    mqtt: { url: broker.url, baseTopic: "qgagm" },
    // linger 0: the agent serves one client at a time, and the test asks it too.
    vms: [...reals].map(([name, real]) => ({ name, socket: real.socket, connection: { linger: 0 } })),
    discovery: {
      proxmox: { enabled: true, socketDir: path.join(dir, "run"), configDir: path.join(dir, "conf") },
      rescanSeconds: 0.5,
    },
    status: { intervalSeconds: 1 },
    agent: { connectTimeoutMs: 2000, syncTimeoutMs: 2000 },
    http: { listen: "127.0.0.1:0" },
  });
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  origin = `http://127.0.0.1:${String(listening.port)}`;
});

after(async () => {
  await client?.close();
  await worker?.stop();
  await fake?.stop();
  for (const real of reals.values()) await real.dispose();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function scrape(): Promise<MetricFamily[]> {
  const response = await fetch(`${origin}/metrics`);
  assert.equal(response.status, 200);
  return parsePrometheusTextFormat(await response.text());
}

type Series = { labels: Record<string, string>; value: number };

function series(families: MetricFamily[], name: string, vm: string): Series[] {
  const family = families.find((f) => f.name === name);
  return (family?.metrics ?? [])
    .filter((m) => m.labels?.vm === vm)
    .map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
}

function only(families: MetricFamily[], name: string, vm: string): number {
  const found = series(families, name, vm);
  assert.equal(found.length, 1, `${name}{vm="${vm}"}: ${found.length} series`);
  return found[0]!.value;
}

/**
 * The VM's status snapshot published with the agent online and the readings `has` names (the first polls
 * run within 2 s of a VM's start). The worker updates a VM's guest series with each collected snapshot
 * before it publishes it, so /metrics, scraped after this message, holds that poll's series: no polling.
 */
function statusOnline(vm: string, ...has: string[]): Promise<Received> {
  return client.next(
    `qgagm/${vm}/status`,
    (m) => {
      if (m.payload.length === 0) return false;
      const snapshot = client.json(m);
      return snapshot.agent === "online" && has.every((member) => member in snapshot);
    },
    20_000,
  );
}

/** The agent's own answers, through a client of our own between the worker's polls. */
async function ask<T>(vm: string, work: (agent: GuestAgent) => Promise<T>): Promise<T> {
  const real = reals.get(vm);
  assert.ok(real, `no agent for ${vm}`);
  const agent = new GuestAgent({ address: real.socket, timeoutMs: 10_000 });
  try {
    return await work(agent);
  } finally {
    await agent.stop();
  }
}

for (const { version, vm, skip: missing } of versions) {
  test(`the real agent's guest metrics match its own answers: qemu-ga ${version}`, {
    skip: skip || missing,
  }, async () => {
    await statusOnline(vm, "cpu_seconds");
    const families = await scrape();
    assert.equal(only(families, "qga_guest_agent_up", vm), 1);
    assert.ok(series(families, "qga_guest_cpu_seconds_total", vm).length > 0, "no CPU series");
    const answers = await ask(vm, async (agent) => ({
      info: await agent.call("guest-info"),
      fsinfo: await agent.call("guest-get-fsinfo"),
      vcpus: await agent.call("guest-get-vcpus"),
      users: await agent.call("guest-get-users"),
      interfaces: await agent.call("guest-network-get-interfaces"),
    }));
    const base = { vm, worker: "gm-host" };

    assert.deepEqual(series(families, "qga_guest_agent_info", vm), [
      { labels: { ...base, version: answers.info.version }, value: 1 },
    ]);
    assert.equal(only(families, "qga_guest_vcpus_online", vm), answers.vcpus.filter((v) => v.online).length);
    assert.equal(only(families, "qga_guest_vcpus_online", vm), os.cpus().length);
    assert.equal(only(families, "qga_guest_users_logged_in", vm), answers.users.length);
    assert.ok(Math.abs(only(families, "qga_guest_clock_offset_seconds", vm)) < 1);

    // Every mount point the agent sizes and the default filter keeps (block-device filesystems): same totals.
    const sized = answers.fsinfo.filter(
      (fs) => (fs["total-bytes"] ?? 0) > 0 && !/^(squashfs|overlay)$/.test(fs.type),
    );
    const sizes = series(families, "qga_guest_filesystem_size_bytes", vm);
    assert.ok(sized.length > 0, "the agent sizes no filesystem here");
    for (const fs of sized) {
      const found = sizes.find((s) => s.labels.mountpoint === fs.mountpoint);
      assert.ok(found, `no size series for ${fs.mountpoint}`);
      assert.equal(found.labels.type, fs.type);
      assert.equal(found.value, fs["total-bytes"]);
      const used = series(families, "qga_guest_filesystem_used_bytes", vm).find(
        (s) => s.labels.mountpoint === fs.mountpoint,
      );
      // Used bytes move between the scrape and the ask: within 1% of the size.
      assert.ok(Math.abs((used?.value ?? -1) - (fs["used-bytes"] ?? 0)) < 0.01 * (fs["total-bytes"] ?? 0));
    }

    // Counters: the scrape came first, so the agent's own later reading is at least as high.
    const rx = series(families, "qga_guest_network_receive_bytes_total", vm);
    const withCounters = answers.interfaces.filter(
      (i) => i.name !== "lo" && i.statistics && !/^ifb/.test(i.name),
    );
    assert.deepEqual(rx.map((s) => s.labels.interface).sort(), withCounters.map((i) => i.name).sort());
    for (const i of withCounters) {
      const scraped = rx.find((s) => s.labels.interface === i.name)?.value ?? Number.NaN;
      assert.ok(scraped <= (i.statistics?.["rx-bytes"] ?? 0), `${i.name}: ${scraped}`);
    }
    const cpu = families.find((f) => f.name === "qga_guest_cpu_seconds_total");
    assert.equal(cpu?.type, "COUNTER");
    assert.ok(series(families, "qga_guest_cpu_seconds_total", vm).some((s) => s.labels.mode === "idle"));

    // guest-get-load is 10.0's: the load gauges are there exactly when the agent has it.
    const load = series(families, "qga_guest_load1", vm);
    if (compareQemuVersions(version, "10.0") >= 0) assert.equal(load.length, 1, "no load from 10.0");
    else assert.deepEqual(load, []);

    const success = only(families, "qga_guest_last_poll_success_timestamp_seconds", vm);
    assert.ok(Math.abs(Date.now() / 1000 - success) < 30, `last success ${success}`);
    assert.ok(only(families, "qga_guest_poll_duration_seconds", vm) > 0);
  });
}

test("a VM that goes away has its series removed, not frozen", { skip }, async () => {
  await statusOnline("brief");
  assert.equal(only(await scrape(), "qga_guest_agent_up", "brief"), 1);
  // A VM no longer served has its series removed, then its retained status cleared (an empty payload).
  const cleared = client.upcoming("qgagm/brief/status", (m) => m.payload.length === 0, 20_000);
  await rm(path.join(dir, "conf", "101.conf"));
  await cleared;
  const families = await scrape();
  const left = families.filter((family) => family.metrics.some((m) => m.labels?.vm === "brief"));
  assert.deepEqual(
    left.map((family) => family.name),
    [],
    "the destroyed VM's series are gone",
  );
  // The other VM's series stay.
  assert.equal(only(families, "qga_guest_agent_up", "real"), 1);
});
