import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { type VmRequests, vmRequests } from "../helpers/vm-requests.js";
import { waitUntil } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { TestVm } from "../vm/test-vm.js";

/**
 * The power, freeze, time and password verbs on two tiny real VMs (test/vm), through the worker CLI and a
 * real mosquitto, proven by what the guest and QEMU show: a QMP RESET and the agent back after a reboot,
 * QEMU gone after a shutdown, writes blocked while frozen, the guest clock, /etc/shadow.
 */
const skip = skipWithout("qemu-system-x86_64", "mosquitto");
const base = "qgae";
// TCG on 2 shared cores: a boot takes ~4 s alone, several times that beside other test files.
const BOOT_MS = 90_000;
let dir: string;
let broker: Mosquitto;
let ops: TestVm;
let boot: TestVm;
let worker: WorkerProcess;
let client: TestClient;

before(
  async () => {
    if (skip) return;
    dir = await mkdtemp(path.join(os.tmpdir(), "qga-e2e-verbs-"));
    [broker, ops, boot] = await Promise.all([
      startMosquitto(),
      TestVm.boot({ name: "e2e-ops", disk: true }),
      TestVm.boot({ name: "e2e-boot" }),
    ]);
    await Promise.all([ops.waitForAgent(BOOT_MS), boot.waitForAgent(BOOT_MS)]);
    worker = await startWorker(dir, {
      worker: { id: "e2e-host" },
      mqtt: { url: broker.url, baseTopic: base },
      vms: [
        { name: "ops", socket: ops.qgaSocket },
        { name: "boot", socket: boot.qgaSocket },
      ],
      policy: { default: ["read"], vms: { ops: ["all"], boot: ["read", "power"] } },
      status: { intervalSeconds: 30, heartbeatSeconds: 60 },
      // After a power change the agent is offline once a ping (1 s) and the resync behind it (syncTimeoutMs)
      // go unanswered: this guest is back ~4 s after its agent died, quicker than the default 3 s allows.
      agent: { connectTimeoutMs: 1000, syncTimeoutMs: 1000 },
    });
    client = await TestClient.connect(broker.url);
    await client.subscribe(`${base}/#`);
    vms = vmRequests(client, base, "e", BOOT_MS);
    await Promise.all([availability("ops", "online"), availability("boot", "online")]);
  },
  { timeout: 180_000 },
);

after(async () => {
  await client?.close();
  await worker?.stop();
  await Promise.all([ops?.stop(), boot?.stop()]);
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Publishes a request (30 s timeout, whatever the worker's default); resolves with its reply. */
/** Set in before(), once the client is connected. */
let vms: VmRequests;
const request: VmRequests["request"] = (...a) => vms.request(...a);
const ok: VmRequests["ok"] = (...a) => vms.ok(...a);
const availability: VmRequests["availability"] = (...a) => vms.availability(...a);

async function readGuestFile(vm: string, file: string): Promise<string> {
  const handle = await ok(vm, "guest-file-open", { path: file, mode: "r" });
  try {
    const read = (await ok(vm, "guest-file-read", { handle, count: 1 << 20 })) as { "buf-b64": string };
    return Buffer.from(read["buf-b64"], "base64").toString("utf8");
  } finally {
    await ok(vm, "guest-file-close", { handle });
  }
}

/**
 * The lines of the guest file `file` (numbers: guest uptimes), once `ready` holds for them. Nothing outside
 * the guest tells when a line is written, so the file is read through the agent until then, within 30 s.
 */
async function guestLinesWhen(
  vm: string,
  file: string,
  ready: (lines: number[]) => boolean,
  what: string,
): Promise<number[]> {
  let lines: number[] = [];
  await waitUntil(`not ${what}`, 30_000, async () => {
    lines = (await readGuestFile(vm, file)).trim().split("\n").filter(Boolean).map(Number);
    return ready(lines);
  });
  return lines;
}

/** guest-exec, then guest-exec-status until it exits; resolves with its stdout. */
async function guestRun(vm: string, file: string, ...arg: string[]): Promise<string> {
  const { pid } = (await ok(vm, "guest-exec", { path: file, arg, "capture-output": true })) as {
    pid: number;
  };
  for (;;) {
    const status = (await ok(vm, "guest-exec-status", { pid })) as { exited: boolean; "out-data"?: string };
    if (status.exited) return Buffer.from(status["out-data"] ?? "", "base64").toString("utf8");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const since = (start: number) => `${((performance.now() - start) / 1000).toFixed(1)} s`;

describe("verbs on real VMs", { skip, concurrency: true }, () => {
  test("reboot: QMP RESET, offline, online again; halt: offline, QEMU still runs", async (t) => {
    const start = performance.now();
    const from = client.messages.length;
    const reply = await request("boot", "reboot");
    t.diagnostic(`reboot reply: ${JSON.stringify(reply)}`);
    assert.deepEqual(reply.result, { accepted: true, mode: "reboot" });
    const reset = await boot.waitForQmpEvent("RESET", BOOT_MS);
    assert.equal(reset.data?.guest, true);
    const offline = await availability("boot", "offline", from);
    t.diagnostic(`reboot → offline: ${since(start)}`);
    await availability("boot", "online", client.messages.indexOf(offline));
    t.diagnostic(`reboot → online again: ${since(start)}`);
    assert.ok(boot.running, "QEMU runs on across a guest reboot");

    const halted = client.messages.length;
    const halt = await request("boot", "halt");
    t.diagnostic(`halt reply: ${JSON.stringify(halt)}`);
    assert.deepEqual(halt.result, { accepted: true, mode: "halt" });
    await availability("boot", "offline", halted);
    t.diagnostic(`halt → offline: ${since(start)}`);
    assert.ok(boot.running, "a halted guest stops its CPUs; QEMU does not exit");
    const denied = await request("boot", "sync-time");
    assert.equal((denied.error as { code: string }).code, "forbidden");
  });

  test("freeze blocks writes until thaw; sync-time; set-password; shutdown ends QEMU", async (t) => {
    // A writer that appends the guest's uptime every 0.1 s: while /data is frozen its write blocks.
    const writer = "while :; do cut -d' ' -f1 /proc/uptime >> /data/log; sleep 0.1; done";
    // The log exists before the writer starts, so that it can be read from the first poll on.
    await guestRun("ops", "/bin/sh", "-c", ": > /data/log");
    await ok("ops", "guest-exec", { path: "/bin/sh", arg: ["-c", writer] });
    await guestLinesWhen("ops", "/data/log", (lines) => lines.length >= 5, "the writer's first lines");
    const frozenEvent = client.upcoming(`${base}/ops/event`, (m) => client.json(m).event === "frozen");
    const freeze = await request("ops", "freeze");
    const frozenAt = performance.now();
    t.diagnostic(`freeze reply: ${JSON.stringify(freeze)}`);
    assert.deepEqual(freeze.result, { frozen: 1 });
    await frozenEvent;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const heldMs = performance.now() - frozenAt;
    const thaw = await request("ops", "thaw");
    t.diagnostic(`thaw reply: ${JSON.stringify(thaw)}`);
    assert.deepEqual(thaw.result, { thawed: 1 });
    // The guest's clock once thawed: the writer's lines after it were written after the thaw.
    const thawedAt = Number((await readGuestFile("ops", "/proc/uptime")).split(" ")[0]);
    const uptimes = await guestLinesWhen(
      "ops",
      "/data/log",
      (lines) => lines.filter((u) => u > thawedAt).length >= 5,
      "the writer's lines after the thaw",
    );
    const gaps = uptimes.slice(1).map((u, i) => u - uptimes[i]!);
    const longest = Math.max(...gaps);
    t.diagnostic(`writer: ${uptimes.length} lines, longest gap ${longest.toFixed(2)} s, frozen ${heldMs} ms`);
    assert.ok(longest * 1000 >= heldMs - 300, `no gap as long as the freeze (${heldMs} ms)`);
    const others = gaps.filter((_, i) => i !== gaps.indexOf(longest));
    assert.ok(Math.max(...others) * 1000 < heldMs / 2, "one gap, the freeze; the writer runs otherwise");
    // That the writer goes on after the thaw is what guestLinesWhen waited for (5 lines after it).

    // The real agent's freeze-list; one that freezes nothing leaves the agent (and the worker) thawed.
    assert.deepEqual(await ok("ops", "freeze", { mountpoints: ["/data"] }), { frozen: 1 });
    assert.deepEqual(await ok("ops", "thaw"), { thawed: 1 });
    const none = await request("ops", "freeze", { mountpoints: ["/nowhere"] });
    t.diagnostic(`freeze of nothing: ${JSON.stringify(none)}`);
    assert.deepEqual(none.result, { frozen: 0 });

    // The guest clock an hour ahead, then set from the host's.
    await ok("ops", "guest-set-time", { time: (Date.now() + 3_600_000) * 1e6 });
    const sync = await request("ops", "sync-time");
    t.diagnostic(`sync-time reply: ${JSON.stringify(sync)}`);
    const offsets = sync.result as { offset_before_ms: number; offset_after_ms: number };
    assert.ok(Math.abs(offsets.offset_before_ms - 3_600_000) < 1000, JSON.stringify(offsets));
    assert.ok(Math.abs(offsets.offset_after_ms) < 1000, JSON.stringify(offsets));

    const password = `e2e-Pässwort-${Math.random().toString(36).slice(2)}`;
    const shadowLine = async () =>
      (await readGuestFile("ops", "/etc/shadow")).split("\n").find((l) => l.startsWith("test:"));
    assert.equal(await shadowLine(), "test:!:19000:0:99999:7:::");
    const set = await request("ops", "set-password", { user: "test", password });
    t.diagnostic(`set-password reply: ${JSON.stringify(set)}`);
    assert.deepEqual(set.result, { user: "test" });
    const hash = (await shadowLine())?.split(":")[1] ?? "";
    const salt = hash.split("$")[2] ?? "";
    assert.match(hash, /^\$6\$/);
    // The hash is that of this password: the guest's own mkpasswd with the same salt says so.
    assert.equal(
      (await guestRun("ops", "/bin/busybox", "mkpasswd", "-m", "sha512", "-S", salt, password)).trim(),
      hash,
    );

    const unknown = await request("ops", "set-password", { user: "nobody", password });
    t.diagnostic(`set-password of an unknown user: ${JSON.stringify(unknown)}`);
    assert.equal((unknown.error as { code: string }).code, "agent_error");
    assert.ok(!JSON.stringify(unknown).includes(password));

    const start = performance.now();
    const from = client.messages.length;
    const shutdown = await request("ops", "shutdown");
    t.diagnostic(`shutdown reply: ${JSON.stringify(shutdown)}`);
    assert.deepEqual(shutdown.result, { accepted: true, mode: "powerdown" });
    assert.deepEqual(await ops.exited, { code: 0, signal: null });
    await availability("ops", "offline", from);
    t.diagnostic(`shutdown → QEMU exited and offline: ${since(start)}`);
  });
});
