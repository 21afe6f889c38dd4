import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pino from "pino";
import { compareQemuVersions } from "../../src/qga/catalogue/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { StatusCollector } from "../../src/status/collector.js";
import { StatusPoller } from "../../src/status/poller.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";
import { AgentFailure, FakeAgent, type FakeAgentOptions } from "../fakes/fake-agent.js";
import { type RealAgent, realAgentVersions, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";

const log = pino({ level: process.env.TEST_LOG ?? "silent" });
const skip = skipWithout("qemu-ga");
const cleanups: Array<() => Promise<void>> = [];

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/**
 * The real agent, and a client that has reached it. The socket file appears when qemu-ga binds it, a
 * moment before it listens: a first connect can be refused, so the client (hold policy) retries until
 * online rather than a test's first collect reading "offline".
 */
async function realAgent(binary?: string): Promise<{ real: RealAgent; client: GuestAgent }> {
  const real = await startRealAgent({ binary });
  const client = new GuestAgent({
    address: real.socket,
    timeoutMs: 5_000,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  cleanups.push(async () => {
    await client.stop();
    await killHard(real);
    await real.dispose();
  });
  const online = new Promise<void>((resolve) =>
    client.onStateChange((state) => state === "online" && resolve()),
  );
  client.start();
  await withTimeout(online, 10_000, "the real agent did not come online");
  return { real, client };
}

/**
 * SIGKILL, not the helper's SIGTERM: qemu-ga 7.2's SIGTERM handler calls g_main_loop_quit, which can
 * deadlock when the signal lands while the main loop is busy (seen right after a client disconnects:
 * the process hangs for good, and so does whoever awaits its exit).
 */
async function killHard(real: RealAgent): Promise<void> {
  const child = real.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** df's view of /: Use% is used / (used + available), rounded up. */
async function dfRoot(): Promise<{ used: number; pct: number }> {
  const { stdout } = await promisify(execFile)("df", ["-B1", "--output=used,pcent", "/"]);
  const [used, pct] = (stdout.trim().split("\n")[1] ?? "").trim().split(/\s+/);
  return { used: Number(used), pct: Number.parseInt(pct ?? "", 10) };
}

// Over each real agent version (test/helpers/qemu-ga.ts); the poller's checks over the first only.
for (const [index, { version, binary, skip }] of realAgentVersions().entries()) {
  describe(`against the real qemu-ga ${version}`, { skip }, () => {
    let client: GuestAgent;
    let collector: StatusCollector;
    let first: StatusSnapshot;

    before(async () => {
      if (skip) return;
      ({ client } = await realAgent(binary));
      collector = new StatusCollector({ vm: "self", agent: client, timeoutMs: 5_000, log });
      first = StatusSnapshot.parse(await collector.collect());
    });

    test("the snapshot describes this machine", async () => {
      assert.equal(first.agent, "online");
      assert.equal(first.vm, "self");
      assert.equal(first.hostname, os.hostname());
      assert.equal(first.os?.kernel_release, os.release());
      assert.equal(first.os?.machine, os.machine());
      assert.equal(first.vcpus, os.cpus().length);
      assert.equal(first.agent_version?.split(".").slice(0, 2).join("."), version);
    });

    test("the load average is there exactly when the agent has guest-get-load (10.0)", () => {
      const load = first.load;
      if (compareQemuVersions(version, "10.0") < 0) return assert.equal(load, undefined);
      assert.ok(load, "no load from a 10.0 agent");
      // The same machine's /proc/loadavg, a moment apart: the same order of magnitude.
      const [own1m = 0] = os.loadavg();
      assert.ok(Math.abs(load["1m"] - own1m) <= Math.max(2, own1m), `agent ${load["1m"]}, os ${own1m}`);
    });

    test("the time zone and the disks are this machine's", async () => {
      assert.equal(first.timezone?.offset_seconds, 0 - new Date().getTimezoneOffset() * 60);
      const disks = first.disks ?? [];
      assert.ok(disks.length > 0, "no disks");
      const blockDevices = await readdir("/sys/class/block");
      for (const disk of disks) assert.ok(blockDevices.includes(path.basename(disk.name)), disk.name);
    });

    test("the root filesystem's usage agrees with df", async () => {
      const root = first.filesystems?.find((fs) => fs.mountpoint === "/");
      assert.ok(root, `no "/" in ${JSON.stringify(first.filesystems)}`);
      assert.ok(root.used_pct > 0 && root.used_pct < 100);
      const df = await dfRoot();
      assert.ok(Math.abs(root.used_pct - df.pct) <= 1, `used_pct ${root.used_pct}, df ${df.pct}%`);
      // Other tests may write meanwhile: the same order of magnitude is what can be asked.
      assert.ok(Math.abs(root.used_bytes - df.used) < 0.01 * root.total_bytes);
    });

    test("the interfaces are this machine's, without loopback", () => {
      const interfaces = first.interfaces ?? [];
      const host = Object.entries(os.networkInterfaces()).filter(([, addrs]) =>
        addrs?.some((a) => !a.internal),
      );
      assert.ok(!interfaces.some((i) => i.name === "lo"));
      for (const [name, addrs = []] of host) {
        const mine = interfaces.find((i) => i.name === name);
        assert.ok(mine, `${name} missing from ${JSON.stringify(interfaces)}`);
        const family = (f: string) =>
          addrs
            .filter((a) => a.family === f)
            .map((a) => a.address)
            .sort();
        assert.deepEqual([...mine.ipv4].sort(), family("IPv4"));
        assert.deepEqual([...mine.ipv6].sort(), family("IPv6"));
        assert.equal(mine.mac, addrs[0]?.mac);
      }
      const withAddresses = interfaces.filter((i) => i.ipv4.length + i.ipv6.length > 0).map((i) => i.name);
      assert.deepEqual(withAddresses.sort(), host.map(([name]) => name).sort());
    });

    test("the clock offset of the same machine is within ±50 ms", () => {
      assert.equal(typeof first.time_offset_ms, "number");
      assert.ok(Math.abs(first.time_offset_ms ?? Number.NaN) <= 50, `${first.time_offset_ms} ms`);
    });

    test("cpu_pct: absent on the first collect, in [0, 100] on the second", async () => {
      assert.equal(first.cpu_pct, undefined);
      assert.ok(first.cpu_seconds && first.cpu_seconds.idle > 0);
      // The guest counts CPU time in 10 ms ticks: the second reading needs some of them to have passed.
      await sleep(100);
      const second = StatusSnapshot.parse(await collector.collect());
      assert.equal(typeof second.cpu_pct, "number");
      assert.ok(second.cpu_pct !== undefined && second.cpu_pct >= 0 && second.cpu_pct <= 100);
    });

    if (index > 0) return;
    test("the poller publishes on start, not while nothing changes, on the heartbeat, and on pollNow", async () => {
      const published: Array<{ snapshot: StatusSnapshot; at: number }> = [];
      let collects = 0;
      let onPublish: (() => void) | undefined;
      let onCollect: (() => void) | undefined;
      const counting = {
        collect: async () => {
          const snapshot = await collector.collect();
          collects++;
          onCollect?.();
          return snapshot;
        },
      };
      const poller = new StatusPoller({
        collector: counting,
        agent: client,
        intervalMs: 20,
        heartbeatMs: 1_500,
        jitter: 0,
        publish: (snapshot) => {
          published.push({ snapshot, at: performance.now() });
          onPublish?.();
        },
        log,
      });
      const nextPublish = () => withTimeout(new Promise<void>((r) => (onPublish = r)), 5_000, "no publish");
      const collected = (n: number) =>
        withTimeout(
          new Promise<void>((r) => (onCollect = () => collects >= n && r())),
          5_000,
          `not ${n} polls`,
        );
      try {
        const started = nextPublish();
        poller.start();
        await started;
        await collected(6);
        assert.equal(published.length, 1, "five polls of an unchanged guest published nothing more");
        await nextPublish();
        assert.equal(published.length, 2);
        const [a, b] = published;
        assert.ok(a && b && b.at - a.at >= 1_490, `heartbeat after ${b && a && b.at - a.at} ms`);
        const now = await poller.pollNow();
        assert.equal(published.length, 3);
        assert.equal(published[2]?.snapshot, now);
        assert.equal(poller.last, now);
      } finally {
        poller.stop();
      }
    });
  });
}

test("a killed agent: the snapshot says offline and nothing else", { skip }, async () => {
  const { real, client } = await realAgent();
  const collector = new StatusCollector({ vm: "gone", agent: client, timeoutMs: 2_000, log });
  assert.equal((await collector.collect()).agent, "online");
  await killHard(real);
  const snapshot = StatusSnapshot.parse(await collector.collect());
  assert.deepEqual(snapshot, { vm: "gone", agent: "offline", updated: snapshot.updated });
});

describe("against a faulty agent (fake)", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "qga-status-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  });

  async function fakeAgent(commands: FakeAgentOptions["commands"] = {}) {
    const socket = path.join(dir, `agent-${cleanups.length}.sock`);
    const fake = await FakeAgent.start({
      path: socket,
      commands: { "guest-get-timezone": () => ({ zone: "UTC", offset: 0 }), ...commands },
    });
    const client = new GuestAgent({ address: socket, timeoutMs: 2_000, syncTimeoutMs: 1_000 });
    cleanups.push(async () => {
      await client.stop();
      await fake.stop();
    });
    return { fake, client, socket };
  }

  test("a hung query: unresponsive, with what answered before it; fine again once the agent is", async () => {
    const { fake, client } = await fakeAgent();
    const collector = new StatusCollector({ vm: "hung", agent: client, timeoutMs: 300, log });
    fake.fault("guest-get-osinfo", { kind: "hang" });
    const hung = StatusSnapshot.parse(await collector.collect());
    assert.equal(hung.agent, "unresponsive");
    assert.equal(hung.hostname, "fake-guest");
    assert.equal(typeof hung.time_offset_ms, "number");
    assert.equal(hung.os, undefined);
    fake.release();
    const recovered = await collector.collect();
    assert.equal(recovered.agent, "online");
    assert.equal(recovered.os?.id, "debian");
  });

  test("a query the guest refuses is not asked again until the agent comes back", async () => {
    const refuse = () => {
      throw new AgentFailure("GenericError", "no vcpus here");
    };
    const { fake, client, socket } = await fakeAgent({ "guest-get-vcpus": refuse });
    const collector = new StatusCollector({ vm: "refusing", agent: client, timeoutMs: 1_000, log });
    client.start();
    await collector.collect();
    await collector.collect();
    assert.equal(fake.requests.filter((r) => r.execute === "guest-get-vcpus").length, 1);
    const offline = new Promise<void>((resolve) => client.onStateChange((s) => s === "offline" && resolve()));
    await fake.stop();
    await offline;
    const again = await FakeAgent.start({ path: socket, commands: { "guest-get-vcpus": refuse } });
    cleanups.push(() => again.stop());
    assert.equal((await collector.collect()).agent, "online");
    assert.equal(again.requests.filter((r) => r.execute === "guest-get-vcpus").length, 1);
  });

  test("frozen: only what the agent serves meanwhile; the thaw is noticed on the next poll", async () => {
    let frozen = true;
    const { client } = await fakeAgent({ "guest-fsfreeze-status": () => (frozen ? "frozen" : "thawed") });
    const collector = new StatusCollector({ vm: "frozen", agent: client, timeoutMs: 1_000, log });
    const snapshot = StatusSnapshot.parse(await collector.collect());
    assert.deepEqual(snapshot, {
      vm: "frozen",
      agent: "frozen",
      updated: snapshot.updated,
      agent_version: "7.2.22",
    });
    frozen = false;
    const thawed = await collector.collect();
    assert.equal(thawed.agent, "online");
    assert.equal(thawed.hostname, "fake-guest");
  });
});
