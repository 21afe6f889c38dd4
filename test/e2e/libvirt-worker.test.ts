import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  defineLibvirtDomain,
  type LibvirtTestDomain,
  libvirtTestUri,
  skipWithoutLibvirt,
  startLibvirtDomain,
  virsh,
} from "../helpers/libvirt.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { type VmRequests, vmRequests } from "../helpers/vm-requests.js";
import { waitUntil } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker on a libvirt host: domains found through libvirtd (not their sockets, which libvirtd holds),
 * every kind of verb and the status snapshot through virDomainQemuAgentCommand, libvirt's own shutdown and
 * reboot, and the fleet following libvirt's lifecycle (a stopped persistent domain stays, offline; an
 * undefined one goes). Real libvirtd, real TCG guests, the worker CLI, a real mosquitto.
 */
const skip = skipWithoutLibvirt() || skipWithout("mosquitto");
const base = "qgalv";
const BOOT_MS = 120_000;
let dir: string;
let broker: Mosquitto;
let worker: WorkerProcess;
let client: TestClient;
let ops: LibvirtTestDomain;
let power: LibvirtTestDomain;
let noAgent: string;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];
const cleanup = { after: (fn: () => Promise<void>) => cleanups.push(fn) };

before(
  async () => {
    if (skip) return;
    dir = await mkdtemp(path.join(os.tmpdir(), "qga-e2e-libvirt-"));
    // `power` is persistent (defined, then started): when it shuts down it stays defined, and so served.
    [broker, ops, power, noAgent] = await Promise.all([
      startMosquitto(),
      startLibvirtDomain(cleanup, "ops", { agentTimeoutMs: BOOT_MS }),
      startLibvirtDomain(cleanup, "power", { agentTimeoutMs: BOOT_MS, persistent: true }),
      defineLibvirtDomain(cleanup, "no-agent", { agentChannel: false }),
    ]);
    worker = await startWorker(dir, {
      worker: { id: "lv-host" },
      mqtt: { url: broker.url, baseTopic: base },
      discovery: { libvirt: { enabled: true, uri: libvirtTestUri() }, rescanSeconds: 2 },
      policy: { default: ["all"] },
      status: { intervalSeconds: 30, heartbeatSeconds: 60 },
      agent: { connectTimeoutMs: 2000, syncTimeoutMs: 2000 },
    });
    client = await TestClient.connect(broker.url);
    await client.subscribe(`${base}/#`);
    vms = vmRequests(client, base, "lv", BOOT_MS);
    await Promise.all([availability(ops.name, "online"), availability(power.name, "online")]);
  },
  { timeout: 300_000 },
);

after(async () => {
  await client?.close();
  await worker?.stop();
  await broker?.stop();
  await Promise.all(cleanups.map((fn) => fn()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Set in before(), once the client is connected. */
let vms: VmRequests;
const request: VmRequests["request"] = (...a) => vms.request(...a);
const ok: VmRequests["ok"] = (...a) => vms.ok(...a);
const availability: VmRequests["availability"] = (...a) => vms.availability(...a);

describe("a libvirt host", { skip, concurrency: true }, () => {
  test("domains with an agent channel are served under their names; one without is not", async () => {
    const info = client.json(await client.next(`${base}/bridge/lv-host/info`, (m) => m.payload.length > 0));
    const names = (info.vms as Array<{ name: string }>).map((vm) => vm.name);
    assert.ok(names.includes(ops.name) && names.includes(power.name), JSON.stringify(names));
    assert.ok(!names.includes(noAgent), `${noAgent} has no agent channel but is served`);
  });

  test("the status snapshot comes from the guest through libvirt", async () => {
    const status = client.json(await client.next(`${base}/${ops.name}/status`, (m) => m.payload.length > 0));
    assert.equal(status.agent, "online", JSON.stringify(status));
    assert.equal(status.hostname, "ops");
    assert.equal(typeof status.agent_version, "string");
  });

  test("ping, exec, files, freeze/thaw, sync-time and raw commands work through libvirt", async () => {
    const ping = (await ok(ops.name, "ping")) as { rtt_ms: number };
    assert.ok(ping.rtt_ms > 0);

    const exec = (await ok(ops.name, "exec", {
      path: "/bin/sh",
      args: ["-c", "echo out; echo err >&2; exit 3"],
    })) as Record<string, unknown>;
    assert.equal(exec.exit_code, 3);
    assert.equal(exec.stdout, "out\n");
    assert.equal(exec.stderr, "err\n");

    const content = "through libvirt\n".repeat(1000);
    const sha256 = createHash("sha256").update(content).digest("hex");
    const written = (await ok(ops.name, "write-file", { path: "/tmp/lv.txt", content })) as Record<
      string,
      unknown
    >;
    assert.equal(written.sha256, sha256);
    const read = (await ok(ops.name, "read-file", { path: "/tmp/lv.txt" })) as Record<string, unknown>;
    assert.equal(read.sha256, sha256);
    assert.equal(read.content, content);

    const frozen = (await ok(ops.name, "freeze")) as { frozen: number };
    assert.equal(typeof frozen.frozen, "number");
    const thawed = (await ok(ops.name, "thaw")) as { thawed: number };
    assert.equal(thawed.thawed, frozen.frozen);

    const time = (await ok(ops.name, "sync-time")) as { offset_after_ms: number };
    assert.ok(Math.abs(time.offset_after_ms) < 2000, JSON.stringify(time));

    const host = (await ok(ops.name, "guest-get-host-name")) as { "host-name": string };
    assert.equal(host["host-name"], "ops");
  });

  test("exec-status and set-password through libvirt", async () => {
    const id = `lv${++counter}`;
    const late = client.upcoming(`${base}/${ops.name}/reply/exec`, (m) => client.json(m).id === id, 60_000);
    await client.publish(
      `${base}/${ops.name}/cmd/exec`,
      JSON.stringify({ id, timeout: 0.5, args: { path: "/bin/sh", args: ["-c", "sleep 1.5; echo late"] } }),
    );
    const running = client.json(await late);
    const error = running.error as { code: string; pid: number };
    assert.equal(error.code, "timeout", JSON.stringify(running));
    let status: Record<string, unknown> = {};
    await waitUntil("the program did not finish", 30_000, async () => {
      status = (await ok(ops.name, "exec-status", { pid: error.pid })) as Record<string, unknown>;
      return status.exited === true;
    });
    assert.equal(status.stdout, "late\n");

    const shadow = async () =>
      ((await ok(ops.name, "read-file", { path: "/etc/shadow" })) as { content: string }).content
        .split("\n")
        .find((line) => line.startsWith("test:"));
    assert.equal(await shadow(), "test:!:19000:0:99999:7:::");
    assert.deepEqual(await ok(ops.name, "set-password", { user: "test", password: "through-libvirt" }), {
      user: "test",
    });
    assert.match((await shadow()) ?? "", /^test:\$6\$/);
  });

  test("the agent's own error keeps its description; a missing file is agent_error", async () => {
    const reply = await request(ops.name, "read-file", { path: "/no/such/file" });
    assert.equal(reply.ok, false);
    const error = reply.error as { code: string; message: string };
    assert.equal(error.code, "agent_error", JSON.stringify(reply));
    assert.match(error.message, /No such file/i);
  });

  test("reboot through libvirt: offline, then online again", async () => {
    const from = client.messages.length;
    const result = (await ok(power.name, "reboot")) as { accepted: boolean };
    assert.equal(result.accepted, true);
    const offline = await availability(power.name, "offline", from);
    await availability(power.name, "online", client.messages.indexOf(offline));
    assert.equal(((await ok(power.name, "ping")) as { rtt_ms: number }).rtt_ms > 0, true);
  });
});

describe("a libvirt domain's life", { skip }, () => {
  test("shutdown stops a persistent domain, which stays served offline; undefined, it goes", async () => {
    const from = client.messages.length;
    const result = (await ok(power.name, "shutdown")) as { accepted: boolean; mode: string };
    assert.deepEqual(result, { accepted: true, mode: "powerdown" });
    await availability(power.name, "offline", from);
    // libvirt knows it is off; the worker still serves it (offline), as it would a stopped Proxmox VM.
    await waitUntil("the domain did not stop", 60_000, async () =>
      (await virsh(["domstate", power.name])).includes("shut off"),
    );
    const offline = await request(power.name, "ping");
    assert.equal((offline.error as { code: string }).code, "agent_unavailable", JSON.stringify(offline));

    const cleared = client.next(`${base}/${power.name}/availability`, (m) => m.payload.length === 0, 30_000);
    await virsh(["undefine", power.name]);
    await cleared;
  });

  test("halt: the agent goes away (offline) while QEMU, and so the domain, keeps running", async () => {
    const from = client.messages.length;
    assert.deepEqual(await ok(ops.name, "halt"), { accepted: true, mode: "halt" });
    await availability(ops.name, "offline", from);
    assert.match(await virsh(["domstate", ops.name]), /running/);
  });
});
