import assert from "node:assert/strict";
import { test } from "node:test";
import { Config } from "../../src/config/schema.js";
import { scan } from "../../src/fleet/scan.js";
import type { DomainInventoryEntry } from "../../src/libvirt/inventory.js";

const libvirtConfig = (over: Record<string, unknown> = {}) =>
  Config.parse({ discovery: { libvirt: { enabled: true, ...over } } }).discovery.libvirt;

const none = { vms: [], globs: [], proxmox: Config.parse({}).discovery.proxmox };

test("libvirt domains with an agent channel are served by name, running or not; the others are not", async () => {
  const domains: DomainInventoryEntry[] = [
    { name: "web2", agentChannel: true },
    { name: "web1", agentChannel: true },
    { name: "router", agentChannel: false },
  ];
  const found = await scan({ ...none, libvirt: { config: libvirtConfig(), list: async () => domains } });
  assert.deepEqual(
    found.vms.map((vm) => [vm.name, vm.address, vm.kind, vm.groups]),
    [
      ["web1", "libvirt:web1", "libvirt", ["libvirt"]],
      ["web2", "libvirt:web2", "libvirt", ["libvirt"]],
    ],
  );
  assert.deepEqual(found.problems, []);
});

test("a domain name that cannot be a topic level is a problem naming the domain", async () => {
  const found = await scan({
    ...none,
    libvirt: {
      config: libvirtConfig(),
      list: async () => [{ name: "web+1", agentChannel: true }],
    },
  });
  assert.deepEqual(found.vms, []);
  assert.match(found.problems[0] ?? "", /libvirt domain web\+1 .* cannot name a VM/);
});

test("when libvirtd cannot be asked, the libvirt VMs served so far stay (a libvirtd restart clears nothing)", async () => {
  const sources = {
    ...none,
    libvirt: {
      config: libvirtConfig(),
      list: async () => [{ name: "web1", agentChannel: true }],
    },
  };
  const first = await scan(sources);
  const failing = {
    ...none,
    libvirt: {
      config: libvirtConfig(),
      list: async (): Promise<DomainInventoryEntry[]> => {
        throw new Error("libvirtd is not running? no socket at /run/libvirt/libvirt-sock");
      },
    },
  };
  const second = await scan(failing, first.vms);
  assert.deepEqual(
    second.vms.map((vm) => vm.name),
    ["web1"],
  );
  assert.match(
    second.problems[0] ?? "",
    /libvirtd at qemu:\/\/\/system cannot be asked \(libvirtd is not running\?/,
  );
  const third = await scan(failing, []);
  assert.deepEqual(third.vms, [], "nothing is invented on a first scan");
});

test("disabled, libvirt is not asked at all", async () => {
  let asked = false;
  const found = await scan({
    ...none,
    libvirt: {
      config: libvirtConfig({ enabled: false }),
      list: async () => {
        asked = true;
        return [];
      },
    },
  });
  assert.equal(asked, false);
  assert.deepEqual(found.vms, []);
});

test("the URI is checked by the config schema", () => {
  assert.equal(
    libvirtConfig({ uri: "qemu+unix:///system?socket=/tmp/x.sock" }).uri,
    "qemu+unix:///system?socket=/tmp/x.sock",
  );
  assert.throws(() => libvirtConfig({ uri: "qemu+ssh://host/system" }), /qemu:\/\/\/system/);
});
