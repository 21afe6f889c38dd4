import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Config, type ProxmoxSource } from "../../src/config/schema.js";
import { globVms } from "../../src/fleet/sources/glob.js";
import { agentEnabled, parseMainSection, proxmoxVms } from "../../src/fleet/sources/proxmox.js";
import { staticVms } from "../../src/fleet/sources/static.js";

/* Each discovery source alone: the config's vms, glob patterns, and a fake /etc/pve/qemu-server. */

const root = await mkdtemp(path.join(os.tmpdir(), "fleet-sources-"));
const servers: net.Server[] = [];
after(async () => {
  for (const server of servers) server.close();
  await rm(root, { recursive: true, force: true });
});

test("static VMs: always served, 'hold' unless the config says, source by index", async () => {
  const result = await staticVms([
    { name: "web1", socket: "/nowhere/web1.sock", groups: ["web", "web"] },
    { name: "db", socket: "tcp://10.0.0.5:4444", groups: [], connection: { linger: 500 } },
  ]);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.vms, [
    {
      name: "web1",
      address: "/nowhere/web1.sock",
      groups: ["web"],
      connection: "hold",
      source: "vms[0] in the config",
      kind: "static",
    },
    {
      name: "db",
      address: "tcp://10.0.0.5:4444",
      groups: [],
      connection: { linger: 500 },
      source: "vms[1] in the config",
      kind: "static",
    },
  ]);
});

test("glob VMs: named by the first '*', source naming pattern and path", async () => {
  const base = path.join(root, "qemu");
  const sock = path.join(base, "web1", "qga.sock");
  await mkdir(path.dirname(sock), { recursive: true });
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const pattern = `${base}/*/qga.sock`;
  const result = await globVms([{ pattern, groups: ["lab"] }]);
  assert.deepEqual(result.vms, [
    {
      name: "web1",
      address: sock,
      groups: ["lab"],
      connection: "hold",
      source: `glob ${pattern} (${sock})`,
      kind: "glob",
    },
  ]);
  assert.ok(result.folders.includes(base));
});

const SNAPSHOT_CONF = `boot: order=scsi0
cores: 2
agent: 1,fstrim_cloned_disks=1
name: app
parent: before-upgrade
scsi0: local-lvm:vm-104-disk-0,size=32G

[before-upgrade]
agent: 0
name: app-old
snaptime: 1700000000

[PENDING]
name: app-renamed
`;

/** The proxmox source as the config schema fills it in (its defaults are what users get). */
function proxmox(settings: Record<string, unknown>): ProxmoxSource {
  return Config.parse({ discovery: { proxmox: settings } }).discovery.proxmox;
}

async function pveFolder(confs: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(root, "pve-"));
  for (const [file, text] of Object.entries(confs)) await writeFile(path.join(dir, file), text);
  return dir;
}

test("proxmox: agent on in the main section, name from there or vm<vmid>, socket <socketDir>/<vmid>.qga", async () => {
  const configDir = await pveFolder({
    "100.conf": "#agent: 0\n#a description\nagent: 1\nname: web\nmemory: 2048\n",
    "101.conf": "agent: enabled=1,fstrim_cloned_disks=1\nmemory: 512\n",
    "102.conf": "agent: 0\nname: off\n",
    "103.conf": "name: no-agent-line\n",
    "104.conf": SNAPSHOT_CONF,
    "105.conf": "agent: 0\nname: snap-on\n[snap1]\nagent: 1\n",
    "106.conf": "agent: enabled=0,type=virtio\nname: explicit-off\n",
    "1000.conf": "agent: ON\nname: big\n",
    "99.conf.tmp.1234": "agent: 1\nname: temp\n",
    "notes.txt": "agent: 1\n",
  });
  const source = proxmox({ enabled: true, configDir, socketDir: "/var/run/qemu-server" });
  const result = await proxmoxVms(source);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.folders, [configDir]);
  assert.deepEqual(
    result.vms.map((vm) => [vm.name, vm.address, vm.source]),
    [
      ["web", "/var/run/qemu-server/100.qga", `proxmox VM 100 (${configDir}/100.conf)`],
      ["vm101", "/var/run/qemu-server/101.qga", `proxmox VM 101 (${configDir}/101.conf)`],
      ["app", "/var/run/qemu-server/104.qga", `proxmox VM 104 (${configDir}/104.conf)`],
      ["big", "/var/run/qemu-server/1000.qga", `proxmox VM 1000 (${configDir}/1000.conf)`],
    ],
  );
  for (const vm of result.vms) {
    assert.deepEqual(vm.groups, ["proxmox"]);
    assert.deepEqual(vm.connection, { linger: 0 });
    assert.equal(vm.kind, "proxmox");
  }
});

test("proxmox: groups and connection come from the source only", async () => {
  const configDir = await pveFolder({ "200.conf": "agent: 1\nname: x\ntags: web;db\n" });
  const result = await proxmoxVms(
    proxmox({ enabled: true, configDir, groups: ["pve", "node1"], connection: "hold" }),
  );
  assert.deepEqual(result.vms[0]?.groups, ["pve", "node1"]);
  assert.equal(result.vms[0]?.connection, "hold");
});

test("proxmox: disabled reads nothing; enabled without a config folder is a problem", async () => {
  assert.deepEqual(await proxmoxVms(proxmox({ configDir: path.join(root, "none") })), {
    vms: [],
    problems: [],
    folders: [],
  });
  const missing = await proxmoxVms(proxmox({ enabled: true, configDir: path.join(root, "none") }));
  assert.equal(missing.vms.length, 0);
  assert.match(
    missing.problems[0] ?? "",
    /proxmox discovery is enabled but .*none cannot be read \(ENOENT\)/,
  );
});

test("proxmox agent property string, as PVE parses it", () => {
  const on = [
    "1",
    "on",
    "yes",
    "TRUE",
    "enabled=1",
    "enabled=1,fstrim_cloned_disks=1",
    "1,fstrim_cloned_disks=1",
  ];
  const off = [
    "0",
    "off",
    "no",
    "false",
    "enabled=0",
    "fstrim_cloned_disks=1",
    "type=virtio",
    "",
    "0,type=isa",
  ];
  for (const value of on) assert.equal(agentEnabled(value), true, value);
  for (const value of off) assert.equal(agentEnabled(value), false, value);
  assert.equal(agentEnabled(undefined), false);
  assert.equal(agentEnabled("freeze-fs=1,enabled=yes"), true);
});

test("only the main section of a conf counts", () => {
  const conf = parseMainSection(SNAPSHOT_CONF);
  assert.equal(conf.get("name"), "app");
  assert.equal(conf.get("agent"), "1,fstrim_cloned_disks=1");
  assert.equal(conf.get("snaptime"), undefined);
  assert.equal(parseMainSection("name: crlf\r\nagent: 1\r\n").get("name"), "crlf");
});
