import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { FakeAgent } from "../fakes/fake-agent.js";
import {
  churningMounts,
  hostileStrings,
  longName,
  manyDisks,
  manyInterfaces,
  manyMounts,
  manyUsers,
} from "../fakes/hostile-guest.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/*
 * Guests whose root is hostile, against the real worker and a real mosquitto (issue 18, hole 5): `many`
 * names thousands of mounts, interfaces, addresses, users and disks, every name long and full of control
 * characters; `churn` reports 50,000 mounts renamed on every poll; `good` is an ordinary guest on the same
 * worker. What the guests name reaches the retained status, Home Assistant and /metrics bounded, once.
 *
 * The bounds asserted are the documented defaults (src/status/guest-bounds.ts, README "Status snapshot").
 */
const LIMITS = {
  snapshotBytes: 64 * 1024,
  filesystems: 64,
  interfaces: 64,
  addressesPerFamily: 16,
  users: 64,
  disks: 128,
  dependencies: 16,
  chars: 256,
  /** Every sensor and button a VM can have besides its filesystems (README "Home Assistant"). */
  fixedEntities: 18,
  /** Series per VM with the default `metrics` (README "Guest metrics"). */
  seriesPerVm: 148,
  /** Non-forced re-announcements a VM gets at once; then one a minute. */
  announceBurst: 3,
} as const;

/** Control characters, lone surrogates, line separators and bidirectional overrides. */
const UNCLEAN = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const skip = skipWithout("mosquitto");
const base = "hg";
let dir: string;
let broker: Mosquitto;
let worker: WorkerProcess;
let client: TestClient;
let origin: string;
const agents: FakeAgent[] = [];
const churn = churningMounts(50_000);

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-hostile-"));
  broker = await startMosquitto();
  const socket = (name: string) => path.join(dir, `${name}.sock`);
  agents.push(await FakeAgent.start({ path: socket("good") }));
  agents.push(
    await FakeAgent.start({
      path: socket("many"),
      version: longName("7.2.22", 1000),
      commands: {
        "guest-get-fsinfo": manyMounts(5_000),
        "guest-network-get-interfaces": manyInterfaces(70, 3, 10_000),
        "guest-get-users": manyUsers(10_000),
        "guest-get-disks": manyDisks(300, 50),
        ...hostileStrings(),
      },
    }),
  );
  agents.push(
    await FakeAgent.start({ path: socket("churn"), commands: { "guest-get-fsinfo": churn.handler } }),
  );
  // Subscribed before the worker starts: every status and discovery config it publishes is counted.
  client = await TestClient.connect(broker.url);
  await client.subscribe([`${base}/+/status`, `${base}/+/reply/#`, "homeassistant/device/+/config"]);
  worker = await startWorker(dir, {
    worker: { id: "hg-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: ["good", "many", "churn"].map((name) => ({ name, socket: socket(name) })),
    status: { intervalSeconds: 1 },
    homeassistant: { enabled: true },
    http: { listen: "127.0.0.1:0" },
  });
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  origin = `http://127.0.0.1:${String(listening.port)}`;
});

after(async () => {
  await client?.close();
  await worker?.stop();
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The first status of `vm` with the agent online and `member` present (the first polls run within 2 s). */
function statusWith(vm: string, member: string): Promise<Received> {
  return client.next(
    `${base}/${vm}/status`,
    (m) => m.payload.length > 0 && client.json(m).agent === "online" && member in client.json(m),
    60_000,
  );
}

/** Every string in a JSON value, keys included. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, out);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      strings(item, out);
    }
  }
  return out;
}

function assertClean(value: unknown, maxChars: number, what: string): void {
  for (const s of strings(value)) {
    assert.ok(
      s.length <= maxChars,
      `${what}: a string of ${s.length} characters: ${JSON.stringify(s.slice(0, 80))}…`,
    );
    assert.doesNotMatch(s, UNCLEAN, `${what}: ${JSON.stringify(s.slice(0, 80))}`);
  }
}

type Snapshot = {
  filesystems?: unknown[];
  interfaces?: Array<{ ipv4: unknown[]; ipv6: unknown[] }>;
  users?: unknown[];
  disks?: Array<{ dependencies?: unknown[] }>;
  truncated?: string[];
};

test("a guest naming thousands of everything: the retained status stays under 64 KiB and says what was cut", {
  skip,
}, async () => {
  const message = await statusWith("many", "disks");
  assert.ok(
    message.payload.length <= LIMITS.snapshotBytes,
    `the status is ${message.payload.length} bytes, over ${LIMITS.snapshotBytes}`,
  );
  const snapshot = client.json(message) as Snapshot;
  assert.ok((snapshot.filesystems?.length ?? 0) > 0, "no filesystem kept");
  assert.ok((snapshot.filesystems?.length ?? 0) <= LIMITS.filesystems);
  assert.ok((snapshot.interfaces?.length ?? 0) <= LIMITS.interfaces);
  for (const iface of snapshot.interfaces ?? []) {
    assert.ok(
      iface.ipv4.length <= LIMITS.addressesPerFamily && iface.ipv6.length <= LIMITS.addressesPerFamily,
    );
  }
  assert.ok((snapshot.users?.length ?? 0) <= LIMITS.users);
  assert.ok((snapshot.disks?.length ?? 0) <= LIMITS.disks);
  for (const disk of snapshot.disks ?? []) assert.ok((disk.dependencies?.length ?? 0) <= LIMITS.dependencies);
  for (const cut of ["filesystems", "interfaces", "addresses", "users", "disks"]) {
    assert.ok(
      snapshot.truncated?.includes(cut),
      `truncated ${JSON.stringify(snapshot.truncated)} lacks ${cut}`,
    );
  }
});

test("every string a guest names reaches the status bounded and without control characters", {
  skip,
}, async () => {
  const snapshot = client.json(await statusWith("many", "disks"));
  assertClean(snapshot, LIMITS.chars, "status");
  // Cut, not emptied: what is kept still starts as the guest said.
  assert.match(String(snapshot.hostname), /^host/);
  assert.match(String(snapshot.agent_version), /^7\.2\.22/);
});

test("50,000 mounts renamed every poll: every status stays bounded", { skip }, async () => {
  const from = client.messages.length;
  const statuses = await client.collect(
    `${base}/churn/status`,
    (m) => m.payload.length > 0 && "filesystems" in client.json(m),
    3,
    from,
  );
  const firsts = new Set<unknown>();
  for (const message of statuses) {
    assert.ok(message.payload.length <= LIMITS.snapshotBytes, `a status of ${message.payload.length} bytes`);
    const snapshot = client.json(message) as Snapshot & { filesystems: Array<{ mountpoint: string }> };
    assert.ok(
      snapshot.filesystems.length <= LIMITS.filesystems,
      `${snapshot.filesystems.length} filesystems`,
    );
    assert.ok(snapshot.truncated?.includes("filesystems"));
    firsts.add(snapshot.filesystems[0]?.mountpoint);
  }
  assert.equal(firsts.size, 3, "the guest renamed its mounts between the statuses");
});

type DeviceConfig = { device: Record<string, unknown>; components: Record<string, Record<string, unknown>> };

test("Home Assistant: a device has at most the bounded entities, with clean names", { skip }, async () => {
  const message = await client.next(
    "homeassistant/device/qga_many/config",
    (m) =>
      m.payload.length > 0 &&
      Object.values((client.json(m) as DeviceConfig).components).some((c) =>
        String(c.name).startsWith("Disk /mnt/0/"),
      ),
    60_000,
  );
  const config = client.json(message) as DeviceConfig;
  const count = Object.keys(config.components).length;
  assert.ok(count <= LIMITS.filesystems + LIMITS.fixedEntities, `${count} entities`);
  assert.ok(message.payload.length <= 256 * 1024, `a config of ${message.payload.length} bytes`);
  for (const component of Object.values(config.components)) {
    const name = String(component.name ?? "");
    assert.ok(name.length <= LIMITS.chars + 5, `an entity named with ${name.length} characters`);
    assert.doesNotMatch(name, UNCLEAN);
  }
  assert.doesNotMatch(JSON.stringify(config.device), UNCLEAN);
});

test("Home Assistant: a guest renaming its mounts every poll is re-announced at most a few times a minute", {
  skip,
}, async () => {
  // Ten statuses of a guest that changed between each (every poll renames its mounts)...
  await client.collect(
    `${base}/churn/status`,
    (m) => m.payload.length > 0 && "filesystems" in client.json(m),
    10,
  );
  const configs = client.messages.filter(
    (m) => m.topic === "homeassistant/device/qga_churn/config" && m.payload.length > 0,
  );
  // ...and only the announcement at start (no answer yet) plus the burst.
  assert.ok(configs.length >= 2, `${configs.length} configs: not even the first set announced`);
  assert.ok(configs.length <= 1 + LIMITS.announceBurst, `${configs.length} configs for 10 statuses`);
});

test("/metrics: label values from the guest are bounded and clean, and a VM's series are bounded", {
  skip,
}, async () => {
  await statusWith("many", "filesystems");
  await statusWith("churn", "filesystems");
  const text = await (await fetch(`${origin}/metrics`)).text();
  // prom-client escapes only \\, \n and ": anything else in a label would reach the scraper raw.
  const unclean = text.split("\n").find((line) => UNCLEAN.test(line));
  assert.equal(
    unclean,
    undefined,
    `a control character in /metrics: ${JSON.stringify(unclean?.slice(0, 200))}`,
  );
  const families = parsePrometheusTextFormat(text);
  for (const vm of ["many", "churn"]) {
    let series = 0;
    for (const family of families.filter((f) => f.name.startsWith("qga_guest_"))) {
      for (const metric of family.metrics.filter((m) => m.labels?.vm === vm)) {
        series++;
        for (const value of Object.values(metric.labels ?? {})) {
          assert.ok(
            value.length <= LIMITS.chars,
            `${family.name}: a label value of ${value.length} characters`,
          );
        }
      }
    }
    assert.ok(series > 0 && series <= LIMITS.seriesPerVm, `${vm}: ${series} series`);
  }
});

test("a well-behaved VM on the same worker still answers its pings", { skip }, async () => {
  await statusWith("churn", "filesystems");
  const before = churn.calls();
  for (let i = 0; i < 5; i++) {
    const id = `ping-${i}`;
    const reply = client.upcoming(`${base}/good/reply/ping`, (m) => client.json(m).id === id, 15_000);
    await client.publish(`${base}/good/cmd/ping`, JSON.stringify({ id }));
    const answer = client.json(await reply);
    assert.equal(answer.ok, true, JSON.stringify(answer));
  }
  // The pings went out while the hostile guest was being polled, not after it stopped.
  await client.upcoming(`${base}/churn/status`, () => true, 30_000);
  assert.ok(churn.calls() > before, "the churning guest was not polled meanwhile");
});
