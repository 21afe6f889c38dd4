import assert from "node:assert/strict";
import { test } from "node:test";
import { factsChanged, factsKey, type StatusSnapshot, withoutReadings } from "../../src/status/snapshot.js";

function snapshot(overrides: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    vm: "vm1",
    agent: "online",
    updated: "2025-01-01T00:00:00.000Z",
    agent_version: "7.2.22",
    hostname: "guest",
    time_offset_ms: 0.42,
    interfaces: [
      { name: "eth0", mac: "02:00:00:00:00:01", ipv4: ["10.0.0.2"], ipv6: [], rx_bytes: 1, tx_bytes: 2 },
    ],
    filesystems: [{ mountpoint: "/", type: "ext4", used_bytes: 10, total_bytes: 100, used_pct: 10 }],
    users: [],
    vcpus: 2,
    load: { "1m": 0.1, "5m": 0.2, "15m": 0.3 },
    cpu_pct: 12.5,
    cpu_seconds: { user: 1, nice: 0, system: 1, idle: 10 },
    ...overrides,
  };
}

test("factsKey: the same facts in another member order give the same key", () => {
  const { hostname, users, ...rest } = snapshot();
  const reordered = { users, ...rest, hostname } as StatusSnapshot;
  assert.equal(factsKey(reordered), factsKey(snapshot()));
  assert.equal(factsChanged(snapshot(), reordered), false);
});

test("factsKey: an absent member differs from any value, and `updated` never counts", () => {
  const { users: _users, ...withoutUsers } = snapshot();
  assert.notEqual(factsKey(withoutUsers), factsKey(snapshot()));
  const { vcpus: _vcpus, ...withoutVcpus } = snapshot();
  assert.notEqual(factsKey(snapshot({ vcpus: 0 })), factsKey(withoutVcpus as StatusSnapshot));
  assert.equal(factsKey(snapshot({ updated: "2030-01-01T00:00:00.000Z" })), factsKey(snapshot()));
});

test("factsChanged: readings that move every poll do not count as a change", () => {
  const moved = snapshot({
    updated: "2030-01-01T00:00:00.000Z",
    time_offset_ms: -3,
    cpu_pct: 99,
    cpu_seconds: { user: 5, nice: 0, system: 5, idle: 20 },
    load: { "1m": 4, "5m": 2, "15m": 1 },
    interfaces: [
      { name: "eth0", mac: "02:00:00:00:00:01", ipv4: ["10.0.0.2"], ipv6: [], rx_bytes: 9, tx_bytes: 9 },
    ],
    filesystems: [{ mountpoint: "/", type: "ext4", used_bytes: 10.2, total_bytes: 100, used_pct: 10.2 }],
  });
  assert.equal(factsChanged(snapshot(), moved), false);
  // cpu_pct appears on the second poll: still only a reading.
  const { cpu_pct: _pct, ...first } = snapshot();
  assert.equal(factsChanged(first, snapshot()), false);
});

test("factsChanged: the agent, addresses, users, mounts and sizes do count", () => {
  const base = snapshot();
  const changes: Array<Partial<StatusSnapshot>> = [
    { agent: "frozen" },
    { hostname: "renamed" },
    { interfaces: [{ name: "eth0", mac: "02:00:00:00:00:01", ipv4: ["10.0.0.3"], ipv6: [] }] },
    { users: [{ name: "alice", login_time: "2025-01-01T00:00:00.000Z" }] },
    { filesystems: [] },
    { filesystems: [{ mountpoint: "/", type: "ext4", used_bytes: 10, total_bytes: 200, used_pct: 5 }] },
    { filesystems: [{ mountpoint: "/", type: "ext4", used_bytes: 11, total_bytes: 100, used_pct: 11 }] },
    { vcpus: 3 },
  ];
  for (const change of changes)
    assert.equal(factsChanged(base, snapshot(change)), true, JSON.stringify(change));
});

test("withoutReadings leaves the snapshot itself alone", () => {
  const original = snapshot();
  const copy = structuredClone(original);
  withoutReadings(original);
  assert.deepEqual(original, copy);
});
