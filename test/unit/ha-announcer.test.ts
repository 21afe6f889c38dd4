import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import pino from "pino";
import { Policy } from "../../src/commands/policy.js";
import { HomeAssistantAnnouncer } from "../../src/ha/announcer.js";
import { Topics } from "../../src/mqtt/topics.js";
import type { StatusSnapshot } from "../../src/status/snapshot.js";

/*
 * Re-announcement of a VM whose entities change: a guest that renames its mounts on every poll must not
 * make a discovery config (and Home Assistant's reload of the device) every poll. A few at once, then one
 * a minute, and the newest set wins. Timers and Date are mocked.
 */

const TOPIC = "homeassistant/device/qga_vm1/config";
let published: Array<{ topic: string; payload: string }>;

beforeEach(() => {
  published = [];
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 1_000_000 });
});
afterEach(() => mock.timers.reset());

function announcer(): HomeAssistantAnnouncer {
  const bus = {
    publish: async (topic: string, payload: string | Buffer) => {
      published.push({ topic, payload: payload.toString() });
    },
    publishRetained: async () => {},
    subscribe: async () => {},
    unsubscribe: async () => {},
  };
  return new HomeAssistantAnnouncer({
    bus,
    topics: new Topics("qga", "w1"),
    prefix: "homeassistant",
    worker: "w1",
    version: "0.0.0",
    policy: new Policy({ default: ["read"], groups: {}, vms: {} }),
    log: pino({ level: "silent" }),
    owned: () => [],
  });
}

/** A status whose one filesystem is mounted at `/m/<n>`: every n is another entity set. */
function mounted(n: number): StatusSnapshot {
  return {
    vm: "vm1",
    agent: "online",
    updated: new Date().toISOString(),
    filesystems: [{ mountpoint: `/m/${n}`, type: "ext4", used_bytes: 1, total_bytes: 2, used_pct: 50 }],
  };
}

const configs = () => published.filter((p) => p.topic === TOPIC && p.payload.length > 0);
const announcesMount = (n: number) => (p: { payload: string }) => p.payload.includes(`"Disk /m/${n}"`);

/** Lets the publishes a timer started settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test("renamed every second: three announcements at once, then one a minute with the newest set", async () => {
  const ha = announcer();
  for (let n = 1; n <= 20; n++) {
    await ha.status("vm1", mounted(n));
    mock.timers.tick(1_000);
  }
  await settle();
  assert.equal(configs().length, 3, `${configs().length} configs for 20 changes in 20 s`);
  mock.timers.tick(60_000);
  await settle();
  assert.equal(configs().length, 4);
  assert.ok(announcesMount(20)(configs().at(-1) ?? { payload: "" }), "the newest set is the one announced");
  // Still changing every second: one a minute, never a burst again while the changes go on.
  for (let n = 21; n <= 140; n++) {
    await ha.status("vm1", mounted(n));
    mock.timers.tick(1_000);
    await settle();
  }
  assert.ok(configs().length <= 6, `${configs().length} configs after 140 changes in 140 s`);
  ha.stop();
});

test("Home Assistant restarting (announceAll) announces the newest set at once and cancels the deferred one", async () => {
  const ha = announcer();
  for (let n = 1; n <= 5; n++) await ha.status("vm1", mounted(n));
  assert.equal(configs().length, 3);
  await ha.announceAll();
  assert.equal(configs().length, 4);
  assert.ok(announcesMount(5)(configs().at(-1) ?? { payload: "" }));
  mock.timers.tick(120_000);
  await settle();
  assert.equal(configs().length, 4, "nothing left to announce");
  ha.stop();
});

test("a VM forgotten while a set waits: the set is never announced", async () => {
  const ha = announcer();
  for (let n = 1; n <= 5; n++) await ha.status("vm1", mounted(n));
  await ha.forget("vm1");
  mock.timers.tick(120_000);
  await settle();
  assert.equal(configs().length, 3);
  assert.equal(published.at(-1)?.payload, "", "the last word is the removal");
  ha.stop();
});

test("a guest back to the announced set while a change waits: nothing more is announced", async () => {
  const ha = announcer();
  for (let n = 1; n <= 3; n++) await ha.status("vm1", mounted(n));
  await ha.status("vm1", mounted(4));
  await ha.status("vm1", mounted(3));
  mock.timers.tick(120_000);
  await settle();
  assert.equal(configs().length, 3);
  ha.stop();
});
