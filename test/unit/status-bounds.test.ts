import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { capabilitiesFromInfo } from "../../src/qga/capabilities.js";
import type { CommandName, ResultOf } from "../../src/qga/catalogue/index.js";
import { type StatusAgent, StatusCollector } from "../../src/status/collector.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";

/*
 * The bounds on what a guest names (src/status/guest-bounds.ts), through the collector: a guest's root
 * controls every list and string its agent answers. The documented defaults are asserted.
 */

const log = pino({ level: "silent" });
const LIMITS = {
  filesystems: 64,
  interfaces: 64,
  addressesPerFamily: 16,
  users: 64,
  disks: 128,
  dependencies: 16,
  cpus: 4096,
  snapshotBytes: 64 * 1024,
} as const;

/** Control characters, lone surrogates, line separators and bidirectional overrides. */
const UNCLEAN = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const NASTY = '\u001b[2J"q"\\ {{ x }}\r\n\t\u0000\u007f\u009b\u202e\u2066\u2028\ud800x\udc00';

type Handler = () => unknown;

/** A connected agent answering from handlers in-process. */
function stubAgent(handlers: Partial<Record<CommandName, Handler>>, version = "7.2.22"): StatusAgent {
  const all: Partial<Record<CommandName, Handler>> = {
    "guest-ping": () => ({}),
    "guest-get-time": () => Date.now() * 1e6,
    ...handlers,
  };
  const commands = Object.keys(all).map((name) => ({ name, enabled: true, "success-response": true }));
  return {
    frozen: false,
    misbehaviour: undefined,
    capabilities: capabilitiesFromInfo({ version, supported_commands: commands }, true),
    async call<K extends CommandName>(name: K): Promise<ResultOf<K>> {
      const handler = all[name];
      if (!handler) throw new Error(`the stub has no ${name}`);
      return handler() as ResultOf<K>;
    },
    onStateChange: () => () => {},
  };
}

function collect(agent: StatusAgent): Promise<StatusSnapshot> {
  return new StatusCollector({ vm: "vm1", agent, timeoutMs: 1_000, log }).collect();
}

/** `items` behind a proxy that counts how many of its entries are read. */
function counted<T>(items: T[]): { list: T[]; reads: () => number } {
  let reads = 0;
  const list = new Proxy(items, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return { list, reads: () => reads };
}

const fs = (mountpoint: string) => ({
  name: "vda1",
  mountpoint,
  type: "ext4",
  "used-bytes": 1,
  "total-bytes": 2,
  disk: [],
});

test("50,000 mounts: at most 64 filesystems, from a slice of the list, and `truncated` says so", async () => {
  const { list, reads } = counted(Array.from({ length: 50_000 }, (_, i) => fs(`/m/${i}`)));
  const snapshot = StatusSnapshot.parse(await collect(stubAgent({ "guest-get-fsinfo": () => list })));
  assert.equal(snapshot.filesystems?.length, LIMITS.filesystems);
  assert.equal(snapshot.filesystems?.[0]?.mountpoint, "/m/0", "the agent's order is kept");
  assert.ok(reads() <= 4 * LIMITS.filesystems, `${reads()} entries of 50,000 read`);
  assert.deepEqual((snapshot as { truncated?: unknown }).truncated, ["filesystems"]);
});

test("50,000 mounts without sizes, or the same one 50,000 times: still a bounded walk", async () => {
  const sizeless = counted(
    Array.from({ length: 50_000 }, (_, i) => ({ name: "x", mountpoint: `/m/${i}`, type: "nfs", disk: [] })),
  );
  const same = counted(Array.from({ length: 50_000 }, () => fs("/same")));
  const snapshot = await collect(
    stubAgent({ "guest-get-fsinfo": () => sizeless.list, "guest-get-users": () => [] }),
  );
  assert.deepEqual(snapshot.filesystems, []);
  assert.ok(sizeless.reads() <= 4 * LIMITS.filesystems, `${sizeless.reads()} entries read`);
  const deduped = await collect(stubAgent({ "guest-get-fsinfo": () => same.list }));
  // A mount point twice (mounts stacked on one directory) would be one Home Assistant entity and one series.
  assert.equal(deduped.filesystems?.length, 1);
  assert.ok(same.reads() <= 4 * LIMITS.filesystems, `${same.reads()} entries read`);
});

test("10,000 users, 70 interfaces with 10,000 addresses, 10,000 disks, 100,000 CPUs: each bounded", async () => {
  const users = counted(
    Array.from({ length: 10_000 }, (_, i) => ({ user: `u${i}`, "login-time": 1.5e9 + i })),
  );
  const addresses = Array.from({ length: 10_000 }, (_, j) =>
    j % 2 === 0
      ? { "ip-address": `10.0.${j >> 8}.${j & 255}`, "ip-address-type": "ipv4" as const, prefix: 8 }
      : { "ip-address": `fd00::${j.toString(16)}`, "ip-address-type": "ipv6" as const, prefix: 64 },
  );
  const crowded = counted(addresses);
  const interfaces = counted(
    Array.from({ length: 70 }, (_, i) => ({ name: `eth${i}`, "ip-addresses": i === 0 ? crowded.list : [] })),
  );
  const disks = counted(
    Array.from({ length: 10_000 }, (_, i) => ({
      name: `/dev/vd${i}`,
      partition: false,
      dependencies: Array.from({ length: 100 }, (_, j) => `/dev/dm-${j}`),
    })),
  );
  const cpus = counted(Array.from({ length: 100_000 }, (_, i) => ({ "logical-id": i, online: true })));
  const snapshot = StatusSnapshot.parse(
    await collect(
      stubAgent({
        "guest-get-users": () => users.list,
        "guest-network-get-interfaces": () => interfaces.list,
        "guest-get-disks": () => disks.list,
        "guest-get-vcpus": () => cpus.list,
      }),
    ),
  );
  assert.equal(snapshot.users?.length, LIMITS.users);
  assert.ok(users.reads() <= LIMITS.users, `${users.reads()} users read`);
  assert.equal(snapshot.interfaces?.length, LIMITS.interfaces);
  assert.ok(interfaces.reads() <= 4 * LIMITS.interfaces, `${interfaces.reads()} interfaces read`);
  const first = snapshot.interfaces?.[0];
  assert.equal(first?.ipv4.length, LIMITS.addressesPerFamily);
  assert.equal(first?.ipv6.length, LIMITS.addressesPerFamily);
  assert.ok(crowded.reads() <= 4 * 2 * LIMITS.addressesPerFamily, `${crowded.reads()} addresses read`);
  assert.equal(snapshot.disks?.length, LIMITS.disks);
  assert.ok(disks.reads() <= LIMITS.disks, `${disks.reads()} disks read`);
  assert.equal(snapshot.disks?.[0]?.dependencies?.length, LIMITS.dependencies);
  assert.equal(snapshot.vcpus, LIMITS.cpus);
  assert.ok(cpus.reads() <= LIMITS.cpus, `${cpus.reads()} CPUs read`);
  assert.deepEqual((snapshot as { truncated?: unknown }).truncated, [
    "interfaces",
    "addresses",
    "users",
    "cpus",
    "disks",
    "dependencies",
  ]);
});

test("every string from the guest: cut to its bound, marked as cut, without control characters", async () => {
  const long = (prefix: string) => `${prefix}${NASTY}${"x".repeat(5_000)}`;
  const snapshot = await collect(
    stubAgent(
      {
        "guest-get-host-name": () => ({ "host-name": long("host") }),
        "guest-get-osinfo": () => ({
          id: long("id"),
          "pretty-name": long("pretty"),
          "kernel-release": long("k"),
        }),
        "guest-get-timezone": () => ({ zone: long("zone"), offset: 0 }),
        "guest-get-fsinfo": () => [{ ...fs(long("/mnt/")), type: long("ext4") }],
        "guest-network-get-interfaces": () => [
          {
            name: long("eth0"),
            "hardware-address": long("02:"),
            "ip-addresses": [{ "ip-address": long("10."), "ip-address-type": "ipv4", prefix: 8 }],
          },
        ],
        "guest-get-users": () => [{ user: long("alice"), domain: long("CORP"), "login-time": 1.5e9 }],
        "guest-get-disks": () => [
          {
            name: long("/dev/vda"),
            partition: false,
            dependencies: [long("/dev/dm-0")],
            alias: long("alias"),
            address: {
              "pci-controller": { domain: 0, bus: 0, slot: 0, function: 0 },
              "bus-type": long("virtio"),
              bus: 0,
              target: 0,
              unit: 0,
              serial: long("serial"),
            },
          },
        ],
      },
      long("7.2.22"),
    ),
  );
  const strings: string[] = [];
  JSON.stringify(snapshot, (_key, value: unknown) => {
    if (typeof value === "string") strings.push(value);
    return value;
  });
  assert.ok(strings.length >= 20, `${strings.length} strings`);
  for (const value of strings) {
    assert.ok(value.length <= 256, `${value.length} characters: ${value.slice(0, 40)}`);
    assert.doesNotMatch(value, UNCLEAN, JSON.stringify(value.slice(0, 60)));
  }
  assert.match(snapshot.hostname ?? "", /^host\uFFFD\[2J"q"\\ \{\{ x \}\}/, "kept from the start, replaced");
  assert.match(snapshot.hostname ?? "", /…$/, "a cut string ends with an ellipsis");
  assert.match(snapshot.agent_version ?? "", /^7\.2\.22/);
});

test("a snapshot over 64 KiB with every list within its count: entries dropped until it fits, and said", async () => {
  const wide = (prefix: string, i: number) => `${prefix}${i}/${"é".repeat(300)}`;
  const snapshot = StatusSnapshot.parse(
    await collect(
      stubAgent({
        "guest-get-fsinfo": () => Array.from({ length: 64 }, (_, i) => fs(wide("/mnt/", i))),
        "guest-get-users": () =>
          Array.from({ length: 64 }, (_, i) => ({ user: wide("u", i), "login-time": 1 })),
        "guest-get-disks": () =>
          Array.from({ length: 128 }, (_, i) => ({
            name: wide("/dev/vd", i),
            partition: false,
            dependencies: Array.from({ length: 16 }, (_, j) => wide("/dev/dm-", j)),
          })),
      }),
    ),
  );
  const bytes = Buffer.byteLength(JSON.stringify(snapshot));
  assert.ok(bytes <= LIMITS.snapshotBytes, `${bytes} bytes`);
  // The largest list (the disks) goes first; the others keep what fits.
  const truncated = (snapshot as { truncated?: string[] }).truncated ?? [];
  assert.ok(truncated.includes("disks"), JSON.stringify(truncated));
  assert.ok((snapshot.disks?.length ?? 0) < 128);
  assert.ok((snapshot.filesystems?.length ?? 0) > 0 && (snapshot.users?.length ?? 0) > 0);
  assert.ok(bytes > LIMITS.snapshotBytes - 8 * 1024, `${bytes} bytes: far more dropped than needed`);
});

test("boundText: exact length, a surrogate pair cut in half replaced, short clean strings unchanged", async () => {
  // Imported here, not at the top: the tests above go through the collector only, so that they ran (and
  // failed) against the code before the bounds existed.
  const { boundText } = await import("../../src/status/guest-bounds.js");
  assert.equal(boundText("eth0", 16), "eth0");
  assert.equal(boundText("abcdef", 4), "abc…");
  // "😀" is two code units: cut after its first, the half left is not valid UTF-8 and becomes U+FFFD.
  const cut = boundText(`${"x".repeat(254)}😀tail`, 256);
  assert.equal(cut.length, 256);
  assert.equal(cut, `${"x".repeat(254)}\uFFFD…`);
  assert.equal(
    boundText("a\u0001b\u200fc\u202ed", 64),
    "a\uFFFDb\u200fc\uFFFDd",
    "only the listed characters go",
  );
});

test("fitSnapshot: the snapshot handed in is not changed; past what lists can give, the lists are emptied", async () => {
  const { fitSnapshot } = await import("../../src/status/fit.js");
  const users = Array.from({ length: 50 }, (_, i) => ({
    name: `user${i}`,
    login_time: "2026-01-01T00:00:00.000Z",
  }));
  const snapshot: StatusSnapshot = { vm: "vm1", agent: "online", updated: "2026-01-01T00:00:00.000Z", users };
  const fitted = fitSnapshot(snapshot, 1024);
  assert.ok(Buffer.byteLength(JSON.stringify(fitted)) <= 1024);
  assert.equal(snapshot.users?.length, 50, "the input keeps its users");
  assert.ok((fitted.users?.length ?? 0) > 0 && (fitted.users?.length ?? 0) < 50);
  assert.deepEqual(fitted.truncated, ["users"]);
  const hostname = "h".repeat(2000);
  const emptied = fitSnapshot({ ...snapshot, hostname }, 1024);
  assert.deepEqual(emptied.users, []);
  assert.deepEqual(emptied.truncated, ["users"]);
  assert.equal(fitSnapshot(snapshot, 64 * 1024), snapshot, "one that fits is returned as it is");
});

test("a login time no date can hold: that user is left out, the others kept", async () => {
  const snapshot = await collect(
    stubAgent({
      "guest-get-users": () => [
        { user: "liar", "login-time": 1e300 },
        { user: "alice", "login-time": 1_700_000_000.25 },
      ],
    }),
  );
  assert.deepEqual(snapshot.users, [{ name: "alice", login_time: "2023-11-14T22:13:20.250Z" }]);
});
