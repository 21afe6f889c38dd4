import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { catalogue, commandNames, isCommandName, lookupCommand } from "../../src/qga/catalogue/index.js";

/*
 * Result schemas against replies: real ones captured from qemu-ga 7.2 and 10.0 (fixtures/), and
 * schema-derived ones for what those agents could not be asked here (commands that change the machine,
 * Windows-only members).
 */

interface Capture {
  request: { execute: string; arguments?: unknown };
  response: { return: unknown };
}

function loadCaptures(agent: string): Map<string, Capture> {
  const dir = new URL(`./fixtures/qga-${agent}/`, import.meta.url);
  const captures = new Map<string, Capture>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    captures.set(
      file.replace(/\.json$/, ""),
      JSON.parse(readFileSync(new URL(file, dir), "utf8")) as Capture,
    );
  }
  return captures;
}

const agent72 = loadCaptures("7.2");
const agent100 = loadCaptures("10.0");

function checkCapture(name: string, capture: Capture): void {
  assert.equal(capture.request.execute, name);
  const spec = lookupCommand(name);
  assert.ok(spec, `${name} not in the catalogue`);
  const args = spec.args.safeParse(capture.request.arguments ?? {});
  assert.ok(args.success, `${name} request refused: ${args.error?.message}`);
  const result = spec.result.safeParse(capture.response.return);
  assert.ok(result.success, `${name} reply refused: ${result.error?.message}`);
  // Loose objects keep every member, and nothing is transformed: what is forwarded is what the agent sent.
  assert.deepEqual(result.data, capture.response.return);
}

for (const [name, capture] of agent72) {
  test(`qemu-ga 7.2 reply to ${name} parses`, () => checkCapture(name, capture));
}

for (const [name, capture] of agent100) {
  test(`qemu-ga 10.0 reply to ${name} parses`, () => checkCapture(name, capture));
}

for (const [agent, captures] of [
  ["7.2", agent72],
  ["10.0", agent100],
] as const) {
  test(`guest-info of qemu-ga ${agent} agrees with the catalogue on names and replies`, () => {
    const info = catalogue["guest-info"].result.parse(captures.get("guest-info")?.response.return);
    assert.equal(info.version.split(".").slice(0, 2).join("."), agent);
    for (const command of info.supported_commands) {
      assert.ok(isCommandName(command.name), `${command.name} missing from the catalogue`);
      assert.equal(catalogue[command.name].replies, command["success-response"], command.name);
    }
  });
}

test("real values beyond 2^53 are accepted (nanosecond clock, route flags)", () => {
  const time = agent72.get("guest-get-time")?.response.return;
  assert.ok(typeof time === "number" && time > Number.MAX_SAFE_INTEGER);
  const routes = catalogue["guest-network-get-route"].result.parse(
    agent100.get("guest-network-get-route")?.response.return,
  );
  assert.ok(routes.some((r) => (r.flags ?? 0) > Number.MAX_SAFE_INTEGER));
  assert.ok(routes.some((r) => r.metric === -1));
});

test("total-bytes-privileged (9.1) is read from the 10.0 agent's fsinfo", () => {
  const fs = catalogue["guest-get-fsinfo"].result.parse(agent100.get("guest-get-fsinfo")?.response.return);
  assert.ok(fs.every((f) => typeof f["total-bytes-privileged"] === "number"));
});

// Replies these agents could not give here, written from the schema's member lists.
const derived: Record<string, unknown[]> = {
  "guest-set-time": [{}],
  "guest-shutdown": [{}],
  "guest-suspend-disk": [{}],
  "guest-suspend-ram": [{}],
  "guest-suspend-hybrid": [{}],
  "guest-file-open": [1000],
  "guest-file-close": [{}],
  "guest-file-flush": [{}],
  "guest-file-read": [
    { count: 5, "buf-b64": "aGVsbG8=", eof: false },
    { count: 0, "buf-b64": "", eof: true },
  ],
  "guest-file-write": [{ count: 5, eof: false }],
  "guest-file-seek": [{ position: 4096, eof: false }],
  "guest-fsfreeze-freeze": [2],
  "guest-fsfreeze-freeze-list": [1],
  "guest-fsfreeze-thaw": [2],
  "guest-fstrim": [
    {
      paths: [
        { path: "/", trimmed: 1048576, minimum: 0 },
        { path: "/boot", error: "Operation not supported" },
      ],
    },
  ],
  "guest-set-vcpus": [2],
  "guest-set-memory-blocks": [
    [
      { "phys-index": 99, response: "success" },
      { "phys-index": 100, response: "operation-failed", "error-code": 16 },
    ],
  ],
  "guest-set-user-password": [{}],
  "guest-exec": [{ pid: 4242 }],
  "guest-exec-status": [
    { exited: false },
    { exited: true, exitcode: 0, "out-data": "aGkK", "err-data": "", "out-truncated": false },
    { exited: true, signal: 9 },
  ],
  "guest-ssh-add-authorized-keys": [{}],
  "guest-ssh-remove-authorized-keys": [{}],
  "guest-get-users": [
    [
      { user: "alice", "login-time": 1700000000.123456 },
      { user: "Administrator", domain: "WORKGROUP", "login-time": 1700000100.5 },
    ],
  ],
  "guest-get-devices": [
    [
      {
        "driver-name": "viostor",
        "driver-date": 1695168000000000000,
        "driver-version": "100.94.104.24000",
        id: { type: "pci", "vendor-id": 0x1af4, "device-id": 0x1001 },
      },
      { "driver-name": "unknown-bus", id: { type: "usb", "whatever-comes": 1 } },
    ],
  ],
  "guest-get-disks": [
    [
      {
        name: "/dev/nvme0n1",
        partition: false,
        dependencies: [],
        alias: "root",
        address: {
          "pci-controller": { domain: -1, bus: -1, slot: -1, function: -1 },
          "bus-type": "nvme",
          bus: 0,
          target: 0,
          unit: 0,
          serial: "deadbeef",
          dev: "/dev/nvme0n1",
          "ccw-address": { cssid: 0, ssid: 0, subchno: 1, devno: 2 },
        },
        smart: {
          type: "nvme",
          "critical-warning": 0,
          temperature: 310,
          "available-spare": 100,
          "available-spare-threshold": 10,
          "percentage-used": 1,
          "data-units-read-lo": 1,
          "data-units-read-hi": 0,
          "data-units-written-lo": 2 ** 60,
          "data-units-written-hi": 0,
          "host-read-commands-lo": 0,
          "host-read-commands-hi": 0,
          "host-write-commands-lo": 0,
          "host-write-commands-hi": 0,
          "controller-busy-time-lo": 0,
          "controller-busy-time-hi": 0,
          "power-cycles-lo": 0,
          "power-cycles-hi": 0,
          "power-on-hours-lo": 0,
          "power-on-hours-hi": 0,
          "unsafe-shutdowns-lo": 0,
          "unsafe-shutdowns-hi": 0,
          "media-errors-lo": 0,
          "media-errors-hi": 0,
          "number-of-error-log-entries-lo": 0,
          "number-of-error-log-entries-hi": 0,
        },
      },
      { name: "/dev/sda", partition: false, smart: { type: "scsi" } },
      { name: "/dev/sda1", partition: true, address: { ...diskAddressWithBus("a-bus-from-the-future") } },
    ],
  ],
  "guest-get-cpustats": [[{ type: "windows", cpu: 0, "kernel-time": 12 }]],
};

function diskAddressWithBus(bus: string) {
  return {
    "pci-controller": { domain: 0, bus: 0, slot: 3, function: 0 },
    "bus-type": bus,
    bus: 0,
    target: 0,
    unit: 0,
  };
}

test("every command has at least one reply sample, real or derived", () => {
  const covered = new Set([...agent72.keys(), ...agent100.keys(), ...Object.keys(derived)]);
  assert.deepEqual(
    commandNames.filter((n) => !covered.has(n)),
    [],
  );
});

for (const [name, samples] of Object.entries(derived)) {
  test(`derived replies to ${name} parse unchanged`, () => {
    const spec = lookupCommand(name);
    assert.ok(spec);
    for (const sample of samples) {
      const result = spec.result.safeParse(sample);
      assert.ok(result.success, `${name}: ${result.error?.message}`);
      assert.deepEqual(result.data, sample);
    }
  });
}

test("members a newer agent adds are kept, nested ones too", () => {
  const osinfo = { id: "debian", "added-in-qemu-42": { deep: [1, 2] } };
  assert.deepEqual(catalogue["guest-get-osinfo"].result.parse(osinfo), osinfo);
  const disks = [
    { name: "/dev/vda", partition: false, address: { ...diskAddressWithBus("virtio"), extra: "x" } },
  ];
  assert.deepEqual(catalogue["guest-get-disks"].result.parse(disks), disks);
  assert.deepEqual(catalogue["guest-ping"].result.parse({ future: true }), { future: true });
});

test("replies that break the documented shape are refused", () => {
  const bad: [string, unknown][] = [
    ["guest-exec-status", { exitcode: 0 }],
    ["guest-exec-status", { exited: "yes" }],
    ["guest-exec-status", { exited: true, "out-data": "not base64!" }],
    ["guest-file-read", { count: 1, eof: false }],
    ["guest-fsfreeze-status", "melting"],
    ["guest-get-time", 1.5],
    ["guest-get-osinfo", { name: 7 }],
    ["guest-get-vcpus", [{ online: true }]],
    ["guest-info", { version: "7.2", supported_commands: [{ name: "guest-ping", enabled: true }] }],
    [
      "guest-network-get-interfaces",
      [{ name: "eth0", "ip-addresses": [{ "ip-address": "::1", prefix: 128 }] }],
    ],
    ["guest-get-cpustats", [{ type: "linux", cpu: 0, user: 1 }]],
    ["guest-get-disks", [{ name: "/dev/nvme0n1", partition: false, smart: { type: "nvme" } }]],
    ["guest-get-diskstats", [{ name: "vda", major: 252, minor: 0, stats: { "read-ios": -1 } }]],
    ["guest-get-load", { load1m: 1 }],
    ["guest-sync", "1"],
    ["guest-ping", []],
  ];
  for (const [name, reply] of bad) {
    const spec = lookupCommand(name);
    assert.ok(spec);
    assert.equal(spec.result.safeParse(reply).success, false, `${name} accepted ${JSON.stringify(reply)}`);
  }
});

test("a full 48 MiB guest-file-read reply validates (64 MiB of base64, no regexp stack overflow)", () => {
  const bytes = 48 * 1024 * 1024;
  const reply = { count: bytes, "buf-b64": Buffer.alloc(bytes, 0xa5).toString("base64"), eof: true };
  assert.equal(catalogue["guest-file-read"].result.safeParse(reply).success, true);
});
