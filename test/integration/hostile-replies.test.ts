import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { GuestAgent } from "../../src/qga/client.js";
import { AgentReplyError } from "../../src/qga/errors.js";
import { FakeAgent } from "../fakes/fake-agent.js";

/**
 * Issue 18, hole 6: a guest's root controls every byte its agent sends. A reply nested 100,000 deep
 * parses (V8's JSON.parse does not recurse) but anything that walks it later does: the worker's
 * JSON.stringify of the reply overflowed the stack and nothing was published. The client must refuse
 * such a reply where the line is parsed, fail that call alone, and keep the channel.
 */
let dir: string;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-hostile-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function setup(echoIds: boolean): Promise<{ fake: FakeAgent; client: GuestAgent }> {
  const fake = await FakeAgent.start({ path: path.join(dir, `agent-${++counter}.sock`), echoIds });
  const client = new GuestAgent({ address: fake.path, timeoutMs: 5_000, syncTimeoutMs: 2_000 });
  cleanups.push(async () => {
    await client.stop();
    await fake.stop();
  });
  await client.call("guest-ping");
  return { fake, client };
}

/** The error a call fails with; if it succeeds, says what a caller publishing its result would meet. */
async function refusal(call: Promise<unknown>): Promise<AgentReplyError> {
  let result: unknown;
  try {
    result = await call;
  } catch (error) {
    assert.ok(error instanceof AgentReplyError, `expected an AgentReplyError, got ${String(error)}`);
    return error;
  }
  let published: string;
  try {
    published = `${JSON.stringify(result).length} characters`;
  } catch (error) {
    published = `JSON.stringify throws ${String(error)}`;
  }
  assert.fail(`the call succeeded; publishing its result: ${published}`);
}

/** An osinfo result with an extra member nested `depth` arrays deep. */
function nested(depth: number): string {
  return `{"id": "x", "extra": ${"[".repeat(depth)}${"]".repeat(depth)}}`;
}

for (const echoIds of [true, false]) {
  describe(echoIds ? "an agent that echoes ids" : "an agent without ids", () => {
    test("a reply nested 100,000 deep fails that call as InvalidReply, and the next call works", async () => {
      const { fake, client } = await setup(echoIds);
      fake.fault("guest-get-osinfo", { kind: "return", json: nested(100_000) });
      const error = await refusal(client.call("guest-get-osinfo"));
      assert.equal(error.errorClass, "InvalidReply");
      assert.match(error.desc, /nested deeper than 64/);
      assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
    });

    test("a reply of more than a million values fails as InvalidReply, and the next call works", async () => {
      const { fake, client } = await setup(echoIds);
      const zeros = Array(1_100_000).fill("0").join(",");
      fake.fault("guest-get-osinfo", { kind: "return", json: `{"id": "x", "extra": [${zeros}]}` });
      const error = await refusal(client.call("guest-get-osinfo"));
      assert.equal(error.errorClass, "InvalidReply");
      assert.match(error.desc, /more than 1000000 values/);
      assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
    });
  });
}

test("a reply exactly at the depth bound passes, and the caller can serialise it", async () => {
  const { fake, client } = await setup(true);
  // The line is level 1, its return value level 2, so the extra member may nest 62 more.
  fake.fault("guest-get-osinfo", { kind: "return", json: nested(62) });
  const result = await client.call("guest-get-osinfo");
  assert.equal(result.id, "x");
  assert.equal(JSON.stringify(result).length, 62 * 2 + '{"id":"x","extra":}'.length);
  fake.fault("guest-get-osinfo", { kind: "return", json: nested(63) });
  assert.match((await refusal(client.call("guest-get-osinfo"))).message, /nested deeper than 64/);
});

test("maxReplyDepth and maxReplyNodes are client options", async () => {
  const fake = await FakeAgent.start({ path: path.join(dir, `agent-${++counter}.sock`) });
  const client = new GuestAgent({ address: fake.path, maxReplyDepth: 8, maxReplyNodes: 50 });
  cleanups.push(async () => {
    await client.stop();
    await fake.stop();
  });
  fake.fault("guest-get-osinfo", { kind: "return", json: nested(7) });
  assert.match((await refusal(client.call("guest-get-osinfo"))).message, /nested deeper than 8/);
  fake.fault("guest-get-osinfo", { kind: "return", json: `{"id": "x", "extra": [${Array(60).fill(1)}]}` });
  assert.match((await refusal(client.call("guest-get-osinfo"))).message, /more than 50 values/);
  assert.equal((await client.call("guest-get-osinfo")).id, "debian");
});
