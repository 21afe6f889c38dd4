import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { type AgentState, GuestAgent, type GuestAgentOptions } from "../../src/qga/client.js";
import type { Logger } from "../../src/qga/logger.js";
import type { Misbehaviour } from "../../src/qga/misbehaviour.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { qgaErrorOf } from "../helpers/errors.js";
import { withTimeout } from "../helpers/wait.js";

/**
 * Issue 18, hole 9: a guest writing unsolicited lines or garbage as fast as it can made the worker log one
 * line per line (3.66 M lines, 670 MB in 40 s at level debug), and read and parse without end. What an
 * agent does wrong is logged as summaries at a bounded rate, and an agent that floods is cut off for a
 * while (its socket closed, so not read), reported offline with the misbehaviour.
 */
let dir: string;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-flood-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

interface Logged {
  readonly level: string;
  readonly obj: object;
  readonly msg: string;
}

/** A logger that keeps every line, at every level (debug included: the level of the reproduction). */
function capture(): Logger & { readonly lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

async function setup(
  options: Omit<GuestAgentOptions, "address"> = {},
): Promise<{ fake: FakeAgent; client: GuestAgent; log: ReturnType<typeof capture> }> {
  const fake = await FakeAgent.start({ path: path.join(dir, `agent-${++counter}.sock`) });
  const log = capture();
  const client = new GuestAgent({
    address: fake.path,
    timeoutMs: 10_000,
    syncTimeoutMs: 5_000,
    log,
    ...options,
  });
  cleanups.push(async () => {
    await client.stop();
    await fake.stop();
  });
  return { fake, client, log };
}

/** The next time the client reports the agent cut off for misbehaving. */
function nextCutOff(
  client: GuestAgent,
): Promise<{ state: AgentState; reason?: string; misbehaviour: Misbehaviour }> {
  return withTimeout(
    new Promise((resolve) => {
      const off = client.onStateChange((state, reason, misbehaviour) => {
        if (!misbehaviour) return;
        off();
        resolve({ state, misbehaviour, ...(reason === undefined ? {} : { reason }) });
      });
    }),
    10_000,
    "the flooding agent was not cut off within 10000 ms",
  );
}

/** What the channel logged about the agent's lines, leaving out the client's own online/offline lines. */
function aboutLines(log: ReturnType<typeof capture>): Logged[] {
  return log.lines.filter((l) => !/^guest agent (online|offline)$|agent capabilities/.test(l.msg));
}

const NO_CUT_OFF = { flood: { maxLines: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER } };

test("5,000 replies nobody asked for cost a bounded number of log lines, not one each", async () => {
  const { fake, client, log } = await setup(NO_CUT_OFF);
  await client.call("guest-ping");
  const stray = '{"return": {}, "id": "nobody-asked"}\n'.repeat(5_000);
  fake.fault("guest-get-host-name", { kind: "preface", bytes: stray });
  // The agent writes the stray lines before the reply, in order: once the call is answered, all were read.
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  const lines = aboutLines(log);
  assert.ok(lines.length <= 2, `${lines.length} log lines, the first: ${JSON.stringify(lines.slice(0, 3))}`);
  assert.ok(lines.length >= 1, "the first occurrence is logged at once");
});

test("5,000 garbage lines before a reply: the reply still counts (by its id), and the log stays short", async () => {
  const { fake, client, log } = await setup(NO_CUT_OFF);
  await client.call("guest-ping");
  fake.fault("guest-get-host-name", { kind: "preface", bytes: "this is not json\n".repeat(5_000) });
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  // The garbage set off a resync; the next call goes out after it.
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  const lines = aboutLines(log);
  assert.ok(lines.length <= 2, `${lines.length} log lines, the first: ${JSON.stringify(lines.slice(0, 3))}`);
});

test("a reconnect that finds a few stale replies (as the notes saw: 8) is no misbehaviour", async () => {
  const { fake, client, log } = await setup();
  fake.leaveStaleReplies(Array.from({ length: 8 }, (_, i) => `{"return": {"stale": ${i}}}`));
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  assert.equal(client.misbehaviour, undefined);
  assert.deepEqual(aboutLines(log), []);
});

test("an agent flooding its channel is cut off: offline with the misbehaviour, not reconnected meanwhile", async () => {
  const { fake, client, log } = await setup({ flood: { maxLines: 1_000 } });
  client.start();
  await client.call("guest-ping");
  const cutOff = nextCutOff(client);
  const flood = fake.flood('{"return": {}, "id": "flood"}\n');
  try {
    const { state, reason, misbehaviour } = await cutOff;
    assert.equal(state, "offline");
    assert.match(reason ?? "", /flood/);
    assert.ok(misbehaviour.lines > 1_000, `${misbehaviour.lines} lines`);
    assert.equal(misbehaviour.cutOffMs, 15_000, "the first cut-off lasts the default 15 s");
    assert.deepEqual(client.misbehaviour, misbehaviour);
    // Calls are refused at once while it lasts: no connection is opened to the flooding agent.
    const refused = await qgaErrorOf(client.call("guest-get-host-name"));
    assert.equal(refused.code, "agent_unavailable");
    assert.match(refused.message, /flood/);
    assert.equal(fake.connections, 1);
    const lines = aboutLines(log);
    assert.ok(lines.length <= 3, `${lines.length} log lines: ${JSON.stringify(lines.slice(0, 4))}`);
  } finally {
    flood.stop();
  }
});

test("a flooder is cut off for longer each time (capped), and served again once it stops", async () => {
  // Behaving for longer than the cap (400 ms) since the last cut-off would start the lengths over; the
  // reconnect and the next thousand lines take milliseconds, far less, even on a loaded machine.
  const { fake, client } = await setup({ flood: { maxLines: 200, cutOff: { initialMs: 100, maxMs: 400 } } });
  client.start();
  await client.call("guest-ping");
  const flood = fake.flood('{"return": {}, "id": "flood"}\n');
  const lengths: number[] = [];
  try {
    while (lengths.length < 4) lengths.push((await nextCutOff(client)).misbehaviour.cutOffMs);
  } finally {
    flood.stop();
  }
  assert.deepEqual(lengths, [100, 200, 400, 400]);
  assert.ok(fake.connections >= 4, `${fake.connections} connections: one per cut-off`);
  const online = withTimeout(
    new Promise<void>((resolve) => client.onStateChange((s) => s === "online" && resolve())),
    10_000,
    "not online again within 10000 ms",
  );
  await online;
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  assert.equal(client.misbehaviour, undefined);
});

test("an endless line (no newline ever) is cut off by its bytes", async () => {
  const { fake, client } = await setup({ maxReplyBytes: 64 * 1024, flood: { maxBytes: 4 * 1024 * 1024 } });
  client.start();
  await client.call("guest-ping");
  const cutOff = nextCutOff(client);
  const flood = fake.flood("x".repeat(4096));
  try {
    const { misbehaviour } = await cutOff;
    assert.ok(misbehaviour.bytes > 4 * 1024 * 1024, `${misbehaviour.bytes} bytes`);
    assert.match(misbehaviour.reason, /bytes/);
  } finally {
    flood.stop();
  }
});

test("a flood of 0xFF bytes is cut off too", async () => {
  const { fake, client } = await setup({ flood: { maxLines: 1_000 } });
  client.start();
  await client.call("guest-ping");
  const cutOff = nextCutOff(client);
  const flood = fake.flood(Buffer.from([0xff]));
  try {
    assert.ok((await cutOff).misbehaviour.lines > 1_000);
  } finally {
    flood.stop();
  }
});

test("a flood of empty lines (which make no reply to parse) is cut off too", async () => {
  const { fake, client } = await setup({ flood: { maxLines: 1_000 } });
  client.start();
  await client.call("guest-ping");
  const cutOff = nextCutOff(client);
  const flood = fake.flood("\n");
  try {
    assert.ok((await cutOff).misbehaviour.lines > 1_000);
  } finally {
    flood.stop();
  }
});
