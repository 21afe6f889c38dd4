import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import pino from "pino";
import { StatusPoller, type StatusPollerOptions } from "../../src/status/poller.js";
import type { StatusSnapshot } from "../../src/status/snapshot.js";

const log = pino({ level: "silent" });

/** A collector whose snapshots the test sets, and whose collect can be held open. */
class Source {
  calls = 0;
  hostname = "guest";
  cpu = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  async collect(): Promise<StatusSnapshot> {
    this.calls++;
    await this.gate;
    this.cpu++;
    return {
      vm: "vm1",
      agent: "online",
      updated: new Date().toISOString(),
      hostname: this.hostname,
      cpu_pct: this.cpu,
    };
  }

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.gate = undefined;
    this.open?.();
  }
}

class Events {
  readonly state = new Set<(state: "online" | "offline", reason: string | undefined) => void>();
  readonly frozen = new Set<(frozen: boolean) => void>();
  onStateChange(listener: (state: "online" | "offline", reason: string | undefined) => void): () => void {
    this.state.add(listener);
    return () => this.state.delete(listener);
  }
  onFrozenChange(listener: (frozen: boolean) => void): () => void {
    this.frozen.add(listener);
    return () => this.frozen.delete(listener);
  }
}

// Resolved promises run on the microtask queue, which mock timers do not drive: let it drain.
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

let source: Source;
let events: Events;
let published: StatusSnapshot[];
let poller: StatusPoller;

function makePoller(overrides: Partial<StatusPollerOptions> = {}): StatusPoller {
  poller = new StatusPoller({
    collector: source,
    agent: events,
    intervalMs: 10_000,
    heartbeatMs: 25_000,
    jitter: 0.1,
    random: () => 0.5, // first poll at 1 s, then exactly every 10 s
    publish: (snapshot) => {
      published.push(snapshot);
    },
    log,
    ...overrides,
  });
  return poller;
}

async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await settle();
}

beforeEach(() => {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: 0 });
  source = new Source();
  events = new Events();
  published = [];
});

afterEach(() => {
  poller?.stop();
  mock.timers.reset();
});

test("polls after the start delay and publishes once; unchanged facts wait for the heartbeat", async () => {
  makePoller().start();
  await advance(999);
  assert.equal(source.calls, 0);
  await advance(1);
  assert.equal(source.calls, 1);
  assert.equal(published.length, 1);
  await advance(10_000);
  await advance(10_000);
  assert.equal(source.calls, 3);
  assert.equal(published.length, 1, "cpu_pct moved, nothing else did");
  assert.equal(poller.last?.cpu_pct, 3, "last has the newest readings anyway");
  // The heartbeat falls due 25 s after the first publish, before the next regular poll (31 s).
  await advance(4_999);
  assert.equal(published.length, 1);
  await advance(1);
  assert.equal(published.length, 2);
  assert.equal(published[1]?.cpu_pct, 4);
});

test("a change of facts is published on the next poll", async () => {
  makePoller().start();
  await advance(1_000);
  source.hostname = "renamed";
  await advance(10_000);
  assert.deepEqual(
    published.map((s) => s.hostname),
    ["guest", "renamed"],
  );
});

test("the agent coming or going, or freezing, polls at once", async () => {
  makePoller().start();
  await advance(1_000);
  for (const listener of events.state) listener("offline", "gone");
  await settle();
  assert.equal(source.calls, 2);
  for (const listener of events.frozen) listener(true);
  await settle();
  assert.equal(source.calls, 3);
  // The event-driven poll restarted the rhythm: the next regular one is an interval after it.
  await advance(9_999);
  assert.equal(source.calls, 3);
  await advance(1);
  assert.equal(source.calls, 4);
});

test("an event during a poll is followed by one more poll, not lost and not doubled", async () => {
  makePoller().start();
  source.hold();
  await advance(1_000);
  for (const listener of events.state) listener("online", undefined);
  for (const listener of events.frozen) listener(false);
  source.release();
  await settle();
  assert.equal(source.calls, 2);
});

test("pollNow: concurrent callers share one poll, which is always published", async () => {
  makePoller().start();
  await advance(1_000);
  assert.equal(published.length, 1);
  source.hold();
  const both = Promise.all([poller.pollNow(), poller.pollNow()]);
  source.release();
  const [a, b] = await both;
  assert.equal(a, b);
  assert.equal(source.calls, 2);
  assert.equal(published.length, 2, "republished though unchanged");
  assert.equal(published[1], a);
});

test("pollNow joining a scheduled poll still publishes it", async () => {
  makePoller().start();
  await advance(1_000);
  source.hold();
  await advance(10_000);
  assert.equal(source.calls, 2);
  const pending = poller.pollNow();
  source.release();
  await pending;
  assert.equal(source.calls, 2);
  assert.equal(published.length, 2);
});

test("stop leaves no timer and publishes nothing afterwards, not even a poll already running", async () => {
  makePoller().start();
  await advance(1_000);
  source.hold();
  await advance(10_000);
  poller.stop();
  source.release();
  await settle();
  await advance(1_000_000);
  assert.equal(source.calls, 2);
  assert.equal(published.length, 1);
  assert.equal(events.state.size + events.frozen.size, 0, "unsubscribed from the agent");
});

test("a failed publish is retried on the next poll", async () => {
  let fail = true;
  makePoller({
    publish: (snapshot) => {
      if (fail) throw new Error("broker down");
      published.push(snapshot);
    },
  }).start();
  await advance(1_000);
  assert.equal(published.length, 0);
  fail = false;
  await advance(10_000);
  assert.equal(published.length, 1);
});

test("a heartbeat whose publish keeps failing is retried at the regular interval, not in a loop", async () => {
  let fail = false;
  makePoller({
    publish: (snapshot) => {
      if (fail) throw new Error("broker down");
      published.push(snapshot);
    },
  }).start();
  await advance(1_000);
  fail = true;
  for (let i = 0; i < 6; i++) await advance(10_000);
  // Polls at 11, 21, 26 (heartbeat, fails), then 36, 46, 56: every one retries, none in between.
  assert.equal(source.calls, 7);
  fail = false;
  await advance(10_000);
  assert.equal(published.length, 2);
});

test("a collect that throws does not end the polling", async () => {
  let calls = 0;
  makePoller({
    collector: {
      collect: async () => {
        calls++;
        if (calls === 1) throw new Error("bug");
        return source.collect();
      },
    },
  }).start();
  await advance(1_000);
  await advance(10_000);
  assert.equal(calls, 2);
  assert.equal(published.length, 1);
});
