import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Config } from "../../src/config/schema.js";
import { type FleetSources, merge, scan } from "../../src/fleet/scan.js";
import type { VmDescriptor } from "../../src/fleet/vm.js";

/* Merging the sources: one name is one VM across the fleet, and names must be valid topic levels. */

const root = await mkdtemp(path.join(os.tmpdir(), "fleet-scan-"));
const servers: net.Server[] = [];
after(async () => {
  for (const server of servers) server.close();
  await rm(root, { recursive: true, force: true });
});

async function socketAt(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(file, resolve));
}

/** Sources as the config schema builds them from the user's YAML. */
function sources(discovery: Record<string, unknown>, vms: unknown[] = []): FleetSources {
  const config = Config.parse({ vms, discovery });
  return { vms: config.vms, globs: config.discovery.globs, proxmox: config.discovery.proxmox };
}

test("a name from two or three sources: the first keeps it, each problem names both sources", async () => {
  const base = path.join(root, "collide");
  await socketAt(path.join(base, "run", "web1", "qga.sock"));
  await socketAt(path.join(base, "run", "solo", "qga.sock"));
  const configDir = path.join(base, "pve");
  await mkdir(configDir, { recursive: true });
  await writeFile(path.join(configDir, "101.conf"), "agent: 1\nname: web1\n");
  await writeFile(path.join(configDir, "102.conf"), "agent: 1\nname: solo\n");
  await writeFile(path.join(configDir, "103.conf"), "agent: 1\nname: pve-only\n");

  const pattern = `${base}/run/*/qga.sock`;
  const result = await scan(
    sources({ globs: [{ pattern }], proxmox: { enabled: true, configDir } }, [
      { name: "web1", socket: "/static/web1.sock" },
    ]),
  );
  assert.deepEqual(
    result.vms.map((vm) => [vm.name, vm.kind]),
    [
      ["web1", "static"],
      ["solo", "glob"],
      ["pve-only", "proxmox"],
    ],
  );
  const webGlob = `glob ${pattern} (${base}/run/web1/qga.sock)`;
  const webPve = `proxmox VM 101 (${configDir}/101.conf)`;
  const soloGlob = `glob ${pattern} (${base}/run/solo/qga.sock)`;
  const soloPve = `proxmox VM 102 (${configDir}/102.conf)`;
  assert.equal(result.problems.length, 3);
  const mentions = (a: string, b: string) =>
    result.problems.some((p) => p.includes(a) && p.includes(b) && p.includes("both name a VM"));
  assert.ok(mentions(webGlob, "vms[0] in the config"), result.problems.join("\n"));
  assert.ok(mentions(webPve, "vms[0] in the config"), result.problems.join("\n"));
  assert.ok(mentions(soloPve, soloGlob), result.problems.join("\n"));
  assert.ok(result.problems.find((p) => p.includes(soloPve))?.includes(`${soloGlob} keeps the name`));
});

test("derived names that are not a valid topic level, or are reserved, are refused", async () => {
  const base = path.join(root, "invalid");
  for (const name of ["web+1", "bridge", "$sys", "fine"]) await socketAt(path.join(base, name, "qga.sock"));
  const configDir = path.join(base, "pve");
  await mkdir(configDir, { recursive: true });
  await writeFile(path.join(configDir, "300.conf"), "agent: 1\nname: group\n");
  const result = await scan(
    sources({ globs: [{ pattern: `${base}/*/qga.sock` }], proxmox: { enabled: true, configDir } }),
  );
  assert.deepEqual(
    result.vms.map((vm) => vm.name),
    ["fine"],
  );
  assert.equal(result.problems.length, 4);
  const about = (name: string) => result.problems.find((p) => p.includes(JSON.stringify(name))) ?? "";
  assert.match(about("web+1"), /\/web\+1\/qga\.sock\).*cannot name a VM.*'\+'/);
  assert.match(about("bridge"), /reserved/);
  assert.match(about("$sys"), /'\$'/);
  assert.match(about("group"), /^proxmox VM 300 .*reserved.*not served/);
});

const vm = (name: string, kind: VmDescriptor["kind"], address: string): VmDescriptor => ({
  name,
  address,
  groups: [],
  connection: "hold",
  source: `${kind} ${address}`,
  kind,
});

test("a VM already served keeps its name against a newcomer from an earlier source", () => {
  const served = vm("app", "proxmox", "/pve/101.qga");
  const late = vm("app", "glob", "/run/app/qga.sock");
  const result = merge([late, served], [served]);
  assert.deepEqual(result.vms, [served]);
  assert.match(
    result.problems[0] ?? "",
    /proxmox \/pve\/101\.qga keeps the name and glob \/run\/app\/qga\.sock is not/,
  );
});

test("a glob VM whose socket has gone stays, and yields its name to a VM found now", () => {
  const gone = vm("web1", "glob", "/run/web1/qga.sock");
  const other = vm("web2", "glob", "/run/web2/qga.sock");
  assert.deepEqual(merge([other], [gone, other]).vms, [other, gone]);
  const moved = vm("web1", "proxmox", "/pve/105.qga");
  assert.deepEqual(merge([moved], [gone]), { vms: [moved], problems: [] });
  // Static and Proxmox VMs are not kept: only what the sources yield now.
  assert.deepEqual(merge([], [vm("x", "proxmox", "/pve/1.qga"), vm("y", "static", "/s")]).vms, []);
});
