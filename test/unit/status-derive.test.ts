import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type CommandName, catalogue, type ResultOf } from "../../src/qga/catalogue/index.js";
import {
  cpuPct,
  cpuSecondsFrom,
  cpuTotals,
  disksFrom,
  filesystemsFrom,
  interfacesFrom,
  loadFrom,
  onlineVcpus,
  osFrom,
  timeOffsetMs,
  timezoneFrom,
  usedPct,
  usersFrom,
} from "../../src/status/derive.js";
import { GUEST_BOUNDS } from "../../src/status/guest-bounds.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";

const B = GUEST_BOUNDS;

/** A real reply captured from qemu-ga (test/unit/fixtures), parsed by the catalogue as the client would. */
function captured<K extends CommandName>(name: K, agent = "7.2"): ResultOf<K> {
  const file = new URL(`./fixtures/qga-${agent}/${name}.json`, import.meta.url);
  const capture = JSON.parse(readFileSync(file, "utf8")) as { response: { return: unknown } };
  return catalogue[name].result.parse(capture.response.return) as ResultOf<K>;
}

function linuxCpu(
  cpu: number,
  ms: { user: number; system: number; idle: number; iowait: number; guest?: number },
) {
  return {
    type: "linux" as const,
    cpu,
    nice: 0,
    irq: 0,
    softirq: 0,
    steal: 0,
    guest: 0,
    guestnice: 0,
    ...ms,
  };
}

test("cpu_pct: 100 * (1 - Δ(idle + iowait) / Δtotal), summed over CPUs, one decimal", () => {
  const first = cpuTotals(
    [
      linuxCpu(0, { user: 1000, system: 500, idle: 8000, iowait: 500 }),
      linuxCpu(1, { user: 2000, system: 0, idle: 7000, iowait: 1000 }),
    ],
    B,
    new Set(),
  );
  // CPU 0: 300 busy + 700 idle; CPU 1: 100 busy + 500 idle + 400 iowait. Idle share 1600/2000.
  const second = cpuTotals(
    [
      linuxCpu(0, { user: 1200, system: 600, idle: 8700, iowait: 500 }),
      linuxCpu(1, { user: 2100, system: 0, idle: 7500, iowait: 1400 }),
    ],
    B,
    new Set(),
  );
  assert.ok(first && second);
  assert.equal(cpuPct(first, second), 20);
  const third = cpuTotals(
    [
      linuxCpu(0, { user: 1201, system: 600, idle: 8701, iowait: 500 }),
      linuxCpu(1, { user: 2100, system: 0, idle: 7501, iowait: 1400 }),
    ],
    B,
    new Set(),
  );
  assert.ok(third);
  assert.equal(cpuPct(second, third), 33.3);
});

test("cpu_pct: guest time is inside user already and is not counted twice", () => {
  const before = cpuTotals([linuxCpu(0, { user: 0, system: 0, idle: 0, iowait: 0, guest: 0 })], B, new Set());
  const after = cpuTotals(
    [linuxCpu(0, { user: 500, system: 0, idle: 500, iowait: 0, guest: 500 })],
    B,
    new Set(),
  );
  assert.ok(before && after);
  assert.equal(cpuPct(before, after), 50);
});

test("cpu_pct: undefined when no time passed or a counter went backwards (a reboot)", () => {
  const reading = cpuTotals(captured("guest-get-cpustats"), B, new Set());
  assert.ok(reading);
  assert.equal(cpuPct(reading, reading), undefined);
  const rebooted = cpuTotals([linuxCpu(0, { user: 10, system: 10, idle: 10, iowait: 0 })], B, new Set());
  assert.ok(rebooted);
  assert.equal(cpuPct(reading, rebooted), undefined);
});

test("cpu_pct: iowait stepping back a little (tickless kernels) is not taken for a reboot", () => {
  const before = cpuTotals([linuxCpu(0, { user: 100, system: 0, idle: 800, iowait: 100 })], B, new Set());
  const after = cpuTotals([linuxCpu(0, { user: 200, system: 0, idle: 1000, iowait: 95 })], B, new Set());
  assert.ok(before && after);
  // Δtotal 295 ms, Δ(idle + iowait) 195 ms.
  assert.equal(cpuPct(before, after), 33.9);
});

test("cpu_seconds: totals over CPUs in seconds; no Linux CPU means no totals", () => {
  const totals = cpuTotals(captured("guest-get-cpustats"), B, new Set());
  assert.ok(totals);
  const seconds = cpuSecondsFrom(totals);
  assert.equal(seconds.idle, 473.97); // 243700 + 230270 ms
  assert.equal(seconds.user, 54.58);
  assert.equal(seconds.iowait, 3.2);
  assert.equal(cpuTotals([{ type: "windows" }], B, new Set()), undefined);
});

test("used_pct has one decimal and stays within 0..100", () => {
  assert.equal(usedPct(24345022464, 108944293888), 22.3);
  assert.equal(usedPct(1, 3), 33.3);
  assert.equal(usedPct(2, 3), 66.7);
  assert.equal(usedPct(0, 0), 0);
  assert.equal(usedPct(5, 4), 100);
});

test("filesystems: only those with sizes, with the bridge's member names", () => {
  const [root] = filesystemsFrom(captured("guest-get-fsinfo"), B, new Set());
  assert.deepEqual(root, {
    mountpoint: "/",
    type: "ext4",
    used_bytes: 24345022464,
    total_bytes: 108944293888,
    used_pct: 22.3,
  });
  const sizeless = { name: "sr0", mountpoint: "/media/cdrom", type: "iso9660", disk: [] };
  assert.deepEqual(filesystemsFrom([sizeless], B, new Set()), []);
});

test("interfaces: loopback dropped (Linux and Windows naming), counters kept, no undefined members", () => {
  const interfaces = interfacesFrom(captured("guest-network-get-interfaces"), B, new Set());
  assert.deepEqual(
    interfaces.map((i) => i.name),
    ["ifb0", "ifb1", "eth0"],
  );
  assert.deepEqual(interfaces[0], { name: "ifb0", mac: "76:c7:9b:52:fd:d7", ipv4: [], ipv6: [] });
  const eth0 = interfaces[2];
  assert.ok(eth0);
  assert.deepEqual(eth0.ipv4, ["192.0.2.2"]);
  assert.ok(eth0.ipv6.includes("fd00::2"));
  for (const key of ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"] as const) {
    assert.equal(typeof eth0[key], "number");
  }
  const windows = [
    {
      name: "Loopback Pseudo-Interface 1",
      "ip-addresses": [
        { "ip-address": "::1", "ip-address-type": "ipv6" as const, prefix: 128 },
        { "ip-address": "127.0.0.1", "ip-address-type": "ipv4" as const, prefix: 8 },
      ],
    },
    { name: "Ethernet" },
  ];
  assert.deepEqual(interfacesFrom(windows, B, new Set()), [{ name: "Ethernet", ipv4: [], ipv6: [] }]);
});

test("os, timezone, vcpus, load, users and disks take the bridge's names and omit what is missing", () => {
  assert.deepEqual(osFrom({ id: "debian", "pretty-name": "Debian", "kernel-release": "6.1" }, B), {
    id: "debian",
    pretty_name: "Debian",
    kernel_release: "6.1",
  });
  assert.deepEqual(timezoneFrom({ offset: 3600 }, B), { offset_seconds: 3600 });
  assert.deepEqual(timezoneFrom(captured("guest-get-timezone"), B).offset_seconds, 0);
  assert.equal(
    onlineVcpus(
      [
        { "logical-id": 0, online: true },
        { "logical-id": 1, online: false },
      ],
      B,
      new Set(),
    ),
    1,
  );
  assert.deepEqual(loadFrom(captured("guest-get-load", "10.0")), { "1m": 1.28, "5m": 0.66, "15m": 0.28 });
  assert.deepEqual(usersFrom([{ user: "alice", "login-time": 1700000000.25 }], B, new Set()), [
    { name: "alice", login_time: "2023-11-14T22:13:20.250Z" },
  ]);
  assert.deepEqual(disksFrom(captured("guest-get-disks"), B, new Set()), [
    { name: "/dev/vda", partition: false, bus_type: "virtio" },
  ]);
  assert.deepEqual(
    disksFrom(
      [{ name: "/dev/sda1", partition: true, dependencies: ["/dev/sda"], alias: "boot" }],
      B,
      new Set(),
    ),
    [{ name: "/dev/sda1", partition: true, dependencies: ["/dev/sda"], alias: "boot" }],
  );
});

test("time offset: guest time minus the host's midpoint of the call", () => {
  // The guest answered 1 ms after the host sent: with a 4 ms round trip, the guest is 1 ms behind.
  assert.equal(timeOffsetMs(1_000_001_000_000, 1_000_000, 1_000_004), -1);
  assert.equal(timeOffsetMs(1_000_002_500_000, 1_000_000, 1_000_001), 2);
});

test("a snapshot built from every 7.2 capture is valid", () => {
  const totals = cpuTotals(captured("guest-get-cpustats"), B, new Set());
  assert.ok(totals);
  const snapshot = {
    vm: "vm1",
    agent: "online",
    updated: new Date().toISOString(),
    agent_version: captured("guest-info").version,
    hostname: captured("guest-get-host-name")["host-name"],
    os: osFrom(captured("guest-get-osinfo"), B),
    timezone: timezoneFrom(captured("guest-get-timezone"), B),
    time_offset_ms: timeOffsetMs(captured("guest-get-time"), 1, 2),
    interfaces: interfacesFrom(captured("guest-network-get-interfaces"), B, new Set()),
    filesystems: filesystemsFrom(captured("guest-get-fsinfo"), B, new Set()),
    users: usersFrom(captured("guest-get-users"), B, new Set()),
    vcpus: onlineVcpus(captured("guest-get-vcpus"), B, new Set()),
    load: loadFrom(captured("guest-get-load", "10.0")),
    cpu_seconds: cpuSecondsFrom(totals),
    disks: disksFrom(captured("guest-get-disks"), B, new Set()),
  };
  assert.deepEqual(StatusSnapshot.parse(snapshot), snapshot);
});
