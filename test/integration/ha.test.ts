import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker } from "../helpers/worker-process.js";

/**
 * Home Assistant discovery through the worker CLI: a retained device config per VM with buttons only for
 * what the policy allows, re-announced when Home Assistant says `online` and when a filesystem appears,
 * and removed when a restart no longer serves the VM.
 */
const skip = skipWithout("mosquitto");
const base = "hatest";
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];
const mounts = ["/"];

function fsinfo() {
  return mounts.map((mountpoint, i) => ({
    name: `vda${i + 1}`,
    mountpoint,
    type: "ext4",
    "used-bytes": 4e9,
    "total-bytes": 1e10,
    disk: [],
  }));
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-ha-"));
  broker = await startMosquitto();
  for (const name of ["web", "db"]) {
    agents.push(
      await FakeAgent.start({
        path: path.join(dir, `${name}.sock`),
        commands: { "guest-get-fsinfo": fsinfo },
      }),
    );
  }
});

after(async () => {
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function config(vms: string[]) {
  return {
    worker: { id: "hv1" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: vms.map((name) => ({ name, socket: path.join(dir, `${name}.sock`) })),
    policy: { default: ["read"], vms: { db: ["read", "power"] } },
    homeassistant: { enabled: true },
  };
}

const topic = (vm: string) => `homeassistant/device/qga_${vm}/config`;

type Config = { device: Record<string, unknown>; components: Record<string, Record<string, unknown>> };

function parse(client: TestClient, message: Received): Config {
  return client.json(message) as unknown as Config;
}

function buttons(config: Config): string[] {
  return Object.values(config.components)
    .filter((c) => c.platform === "button")
    .map((c) => String(c.command_topic).split("/").pop() ?? "")
    .sort();
}

const hasDisk = (client: TestClient, mount: string) => (m: Received) =>
  m.payload.length > 0 && Object.values(parse(client, m).components).some((c) => c.name === `Disk ${mount}`);

test("every VM is a device with the entities of its status and buttons for allowed verbs only", {
  skip,
}, async () => {
  const client = await TestClient.connect(broker.url);
  await client.subscribe(["homeassistant/#"]);
  const worker = await startWorker(dir, config(["web", "db"]));
  try {
    const web = parse(client, await client.next(topic("web"), hasDisk(client, "/")));
    assert.equal(web.device.name, "web");
    assert.equal(web.device.via_device, "qga_bridge_hv1");
    assert.ok(web.components.hostname && web.components.agent);
    assert.deepEqual(buttons(web), ["status"]);
    const db = parse(client, await client.next(topic("db"), hasDisk(client, "/")));
    assert.deepEqual(buttons(db), ["halt", "reboot", "shutdown", "status"]);
    assert.equal(db.components.button_reboot?.command_topic, `${base}/db/cmd/reboot`);
    await client.next("homeassistant/device/qga_bridge_hv1/config");

    // Home Assistant restarted: everything is announced again, after a short random delay.
    const again = client.upcoming(topic("web"), () => true, 10_000);
    await client.publish("homeassistant/status", "online");
    assert.ok(hasDisk(client, "/")(await again));
    await worker.waitForLog((line) => line.msg === "Home Assistant is online: announcing the VMs again");

    // A new filesystem: the device is announced again with a sensor for it.
    mounts.push("/srv/data");
    await client.publish(`${base}/web/cmd/status`, "{}");
    const grown = parse(client, await client.next(topic("web"), hasDisk(client, "/srv/data")));
    assert.equal(grown.components.fs_root?.name, "Disk /");
  } finally {
    assert.equal(await worker.stop(), 0);
    await client.close();
  }
});

test("a restart without a VM removes its device from Home Assistant", { skip }, async () => {
  const first = await startWorker(dir, config(["web", "db"]));
  const client = await TestClient.connect(broker.url);
  await client.subscribe([topic("db")]);
  await client.next(topic("db"), (m) => m.payload.length > 0);
  assert.equal(await first.stop(), 0);
  // web's agent is down across the restart: its device keeps the entities of its last answer.
  await agents[0]?.stop();

  const second = await startWorker(dir, config(["web"]));
  try {
    await second.waitForLog(
      (line) => line.msg === "Home Assistant device of a VM no longer served: removing it",
    );
    await client.next(topic("db"), (m) => m.payload.length === 0);
    const statuses = await TestClient.connect(broker.url);
    await statuses.subscribe(`${base}/web/status`);
    await statuses.next(`${base}/web/status`, (m) => statuses.json(m).agent !== "online");
    await statuses.close();
    // What a client subscribing now is handed: web's config, nothing for db.
    const reader = await TestClient.connect(broker.url);
    await reader.subscribe(["homeassistant/device/+/config", "marker"]);
    await reader.publish("marker", "x");
    await reader.next("marker");
    const retained = reader.messages.filter((m) => m.retain).map((m) => m.topic);
    const web = reader.messages.find((m) => m.topic === topic("web") && m.retain);
    assert.ok(web && hasDisk(reader, "/")(web), "web's entities are kept while its agent is down");
    assert.ok(!retained.includes(topic("db")));
    await reader.close();
  } finally {
    await second.stop();
    await client.close();
  }
});

test("a VM whose Proxmox configuration is deleted is removed from Home Assistant at once", {
  skip,
}, async () => {
  const pve = path.join(dir, "pve");
  const sockets = path.join(dir, "qemu-server");
  await mkdir(pve, { recursive: true });
  await mkdir(sockets, { recursive: true });
  const agent = await FakeAgent.start({ path: path.join(sockets, "101.qga") });
  await writeFile(path.join(pve, "101.conf"), "agent: 1\nname: tmp\n");
  const client = await TestClient.connect(broker.url);
  await client.subscribe([topic("tmp")]);
  const worker = await startWorker(dir, {
    ...config([]),
    worker: { id: "hv2" },
    discovery: { proxmox: { enabled: true, configDir: pve, socketDir: sockets }, rescanSeconds: 0.5 },
  });
  try {
    await client.next(topic("tmp"), (m) => m.payload.length > 0);
    // The VM was destroyed (or migrated: its new worker announces it).
    await rm(path.join(pve, "101.conf"));
    await client.next(topic("tmp"), (m) => m.payload.length === 0);
  } finally {
    await worker.stop();
    await agent.stop();
    await client.close();
  }
});
