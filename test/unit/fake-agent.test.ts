// Self-test of the fake guest agent: its wire behaviour, its faults, and (when qemu-ga is installed,
// always in CI) a byte-for-byte comparison with the real agent on the same input.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { AgentFailure, FakeAgent, type FakeAgentOptions, NO_REPLY } from "../fakes/fake-agent.js";
import { clientsTranscript, scriptTranscript } from "../fakes/qga-transcripts.js";
import { RawClient } from "../fakes/raw-client.js";
import { MACHINE_CHANGING_COMMANDS, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";

const FF = "\xff"; // RawClient writes strings as latin1 and reads lines as latin1: this is the byte 0xFF
const STRAY = '{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}';
const sync = (id: number) => `${FF}{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`;
const ping = (id: unknown) => `{"execute":"guest-ping","id":${JSON.stringify(id)}}`;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fake-qga-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function setup(t: TestContext, opts: Partial<FakeAgentOptions> = {}) {
  const dir = await tempDir(t);
  const agent = await FakeAgent.start({ path: path.join(dir, "qga.sock"), ...opts });
  const clients: RawClient[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await agent.stop();
  });
  const connect = async () => {
    const c = await RawClient.connect(agent.path);
    clients.push(c);
    return c;
  };
  return { agent, connect };
}

test("guest-sync-delimited answers 0xFF then its line, guest-sync a plain line", async (t) => {
  const { connect } = await setup(t);
  const c = await connect();
  await c.write(`${sync(5)}{"execute":"guest-sync","arguments":{"id":6}}`);
  assert.deepEqual(await c.lines(3), [STRAY, `${FF}{"return": 5}`, '{"return": 6}']);
});

test("ids are echoed, in the real agent's key order", async (t) => {
  const { connect } = await setup(t);
  const c = await connect();
  await c.write(
    `${ping("a1")}{"execute":"guest-nope","id":7}{"execute":"guest-ping","id":{"b":[1.0,0.1],"a":null}}`,
  );
  assert.deepEqual(await c.lines(3), [
    '{"return": {}, "id": "a1"}',
    '{"id": 7, "error": {"class": "CommandNotFound", "desc": "The command guest-nope has not been found"}}',
    '{"return": {}, "id": {"a": null, "b": [1, 0.10000000000000001]}}',
  ]);
});

test("parses a request split into single bytes, and several requests in one write", async (t) => {
  const { connect } = await setup(t);
  const c = await connect();
  for (const ch of ping(1)) await c.write(ch);
  await c.write(`${ping(2)} ${ping(3)}\n${ping(4)}`);
  assert.deepEqual(
    await c.lines(4),
    [1, 2, 3, 4].map((i) => `{"return": {}, "id": ${i}}`),
  );
});

test("error replies carry the real agent's classes and texts", async (t) => {
  const { connect } = await setup(t, { disabled: ["guest-exec"] });
  const c = await connect();
  await c.write(
    '{"execute":"guest-exec","arguments":{"path":"x"}}{"execute":"guest-ping","foo":1}' +
      '{"execute":"guest-sync","arguments":{"id":1,"x":2}}{"execute":"guest-sync"}{"execute":"guest-sync","arguments":{"id":"s"}}',
  );
  const error = (cls: string, desc: string) => `{"error": {"class": "${cls}", "desc": "${desc}"}}`;
  assert.deepEqual(await c.lines(5), [
    error("CommandNotFound", "Command guest-exec has been disabled"),
    error("GenericError", "QMP input member 'foo' is unexpected"),
    error("GenericError", "Parameter 'x' is unexpected"),
    error("GenericError", "Parameter 'id' is missing"),
    error("GenericError", "Invalid parameter type for 'id', expected: integer"),
  ]);
});

test("guest-info lists registered and disabled commands like the real agent", async (t) => {
  const { connect } = await setup(t, {
    version: "9.9.9",
    disabled: ["guest-exec"],
    commands: { "guest-x": () => 1 },
  });
  const c = await connect();
  await c.write('{"execute":"guest-info"}');
  const info = JSON.parse((await c.lines(1))[0] ?? "").return;
  assert.equal(info.version, "9.9.9");
  const byName = new Map(info.supported_commands.map((x: { name: string }) => [x.name, x]));
  assert.deepEqual(byName.get("guest-shutdown"), {
    enabled: true,
    name: "guest-shutdown",
    "success-response": false,
  });
  assert.deepEqual(byName.get("guest-exec"), {
    enabled: false,
    name: "guest-exec",
    "success-response": true,
  });
  assert.ok(byName.has("guest-x") && byName.has("guest-sync-delimited") && byName.has("guest-get-osinfo"));
});

test("custom handlers: values, async, AgentFailure, NO_REPLY", async (t) => {
  const commands = {
    "guest-get-users": async () => [{ user: "root", "login-time": 1.5 }],
    "guest-fail": () => {
      throw new AgentFailure("GenericError", "no such thing");
    },
    "guest-quiet": () => NO_REPLY,
  };
  const { agent, connect } = await setup(t, { commands });
  const c = await connect();
  await c.write('{"execute":"guest-get-users"}{"execute":"guest-quiet"}{"execute":"guest-fail","id":1}');
  assert.deepEqual(await c.lines(2), [
    '{"return": [{"login-time": 1.5, "user": "root"}]}', // QDict hash order, not insertion order
    '{"id": 1, "error": {"class": "GenericError", "desc": "no such thing"}}',
  ]);
  assert.deepEqual(agent.requests[2], { execute: "guest-fail", id: 1 });
});

test("guest-shutdown sends nothing on success and an error on a bad mode", async (t) => {
  const { agent, connect } = await setup(t);
  const c = await connect();
  await c.write(
    `{"execute":"guest-shutdown"}{"execute":"guest-shutdown","arguments":{"mode":"bogus"}}${sync(9).slice(1)}`,
  );
  assert.deepEqual(await c.lines(2), [
    '{"error": {"class": "GenericError", "desc": "mode is invalid (valid values are: halt|powerdown|reboot"}}',
    `${FF}{"return": 9}`,
  ]);
  assert.deepEqual(
    agent.requests.map((r) => r.execute),
    ["guest-shutdown", "guest-shutdown", "guest-sync-delimited"],
  );
});

test("echoIds: false answers an id like a pre-4.0 agent", async (t) => {
  const { connect } = await setup(t, { echoIds: false });
  const c = await connect();
  await c.write(`${ping(1)}{"execute":"guest-ping"}`);
  assert.deepEqual(await c.lines(2), [
    '{"error": {"class": "GenericError", "desc": "QMP input object member \'id\' is unexpected"}}',
    '{"return": {}}',
  ]);
});

test("fault delay: the reply comes late and later requests wait behind it", async (t) => {
  const { agent, connect } = await setup(t);
  agent.fault("guest-ping", { kind: "delay", ms: 80 });
  const c = await connect();
  const started = performance.now();
  await c.write(`${ping(1)}${ping(2)}`);
  assert.deepEqual(await c.lines(2), ['{"return": {}, "id": 1}', '{"return": {}, "id": 2}']);
  assert.ok(performance.now() - started >= 75);
});

test("fault hang: nothing is processed until release()", async (t) => {
  let calls = 0;
  const { agent, connect } = await setup(t, { commands: { "guest-ping": () => void calls++ } });
  agent.fault("guest-ping", { kind: "hang" });
  const c = await connect();
  await c.write(`${ping(1)}${ping(2)}`);
  await agent.waitForRequest((r) => r.id === 2);
  assert.equal(calls, 0, "the hung request and the one behind it wait");
  agent.release();
  assert.deepEqual(await c.lines(2), ['{"return": {}, "id": 1}', '{"return": {}, "id": 2}']);
  assert.equal(calls, 2);
  // release() also drops hangs not reached yet: here it comes before the request it frees
  agent.fault("*", { kind: "hang" }, Number.POSITIVE_INFINITY);
  agent.release();
  await c.write(`${ping(3)}${ping(4)}`);
  assert.deepEqual(await c.lines(2), ['{"return": {}, "id": 3}', '{"return": {}, "id": 4}']);
});

test("faults garbage, raw, oversize and wrong-id shape the reply; '*' spares the sync commands", async (t) => {
  const { agent, connect } = await setup(t);
  agent.fault("guest-ping", { kind: "garbage", bytes: "not json\n" });
  agent.fault("guest-ping", { kind: "garbage", bytes: Buffer.from("no newline") });
  agent.fault("guest-ping", { kind: "raw", line: '{"return": "odd"}' });
  agent.fault("guest-info", { kind: "oversize", bytes: 100_000 });
  agent.fault("*", { kind: "wrong-id" }, 2);
  const c = await connect();
  await c.write(`${ping(1)}${ping(2)}${ping(3)}{"execute":"guest-info","id":"big"}`);
  await c.write(`${ping(5)}${sync(6).slice(1)}{"execute":"guest-nope","id":"x"}${ping(8)}`);
  const lines = await c.lines(7);
  assert.deepEqual(lines.slice(0, 2), ["not json", 'no newline{"return": "odd"}']);
  assert.equal(lines[2]?.length, 99_999, "100000 bytes with the newline");
  assert.equal(JSON.parse(lines[2] ?? "").id, "big");
  assert.deepEqual(lines.slice(3), [
    '{"return": {}, "id": 1000000005}',
    `${FF}{"return": 6}`,
    '{"id": "x-stale", "error": {"class": "CommandNotFound", "desc": "The command guest-nope has not been found"}}',
    '{"return": {}, "id": 8}',
  ]);
});

test("fault disconnect closes the connection instead of replying; a new client is served", async (t) => {
  const { agent, connect } = await setup(t);
  agent.fault("guest-ping", { kind: "disconnect" });
  const a = await connect();
  await a.write(ping(1));
  await a.closed;
  assert.equal(a.buffered.length, 0);
  const b = await connect();
  await b.write(sync(2));
  assert.deepEqual(await b.lines(2), [STRAY, `${FF}{"return": 2}`]);
  assert.equal(agent.connections, 2);
});

test("stale replies reach the next client on connect, before it sends anything", async (t) => {
  const { agent, connect } = await setup(t);
  agent.leaveStaleReplies(['{"return": {}, "id": 99}', '{"return": 42}']);
  const c = await connect();
  assert.deepEqual(await c.lines(2), ['{"return": {}, "id": 99}', '{"return": 42}']);
});

test("a reply finished after its client left goes to the next client", async (t) => {
  const { agent, connect } = await setup(t);
  agent.fault("guest-ping", { kind: "hang" });
  const a = await connect();
  await a.write(ping("old"));
  await agent.waitForRequest((r) => r.id === "old");
  a.destroy();
  const b = await connect();
  agent.release();
  await b.write(sync(3));
  assert.deepEqual(await b.lines(3), ['{"return": {}, "id": "old"}', STRAY, `${FF}{"return": 3}`]);
});

test("a half request left behind swallows the next client's requests until a 0xFF", async (t) => {
  const { agent, connect } = await setup(t);
  agent.leaveHalfRequest();
  const c = await connect();
  await c.write(ping(1));
  await c.write(sync(2));
  // answered in order, so a reply to ping 1 would have come before these
  assert.deepEqual(await c.lines(2), [STRAY, `${FF}{"return": 2}`]);
  assert.deepEqual(agent.requests, [{ execute: "guest-sync-delimited", arguments: { id: 2 } }]);
});

test("a second client connects but is not served until the first leaves", async (t) => {
  const { agent, connect } = await setup(t);
  const a = await connect();
  const b = await connect();
  await b.write(ping("b"));
  await a.write(sync(1)); // a round trip after b's bytes are in the agent's socket buffer
  assert.deepEqual(await a.lines(2), [STRAY, `${FF}{"return": 1}`]);
  assert.equal(b.buffered.length, 0);
  assert.equal(agent.requests.length, 1, "b's request was not even read");
  assert.equal(agent.connections, 2);
  await a.close();
  assert.deepEqual(await b.lines(1), ['{"return": {}, "id": "b"}']);
});

test("waitForRequest sees past and future requests; stop() rejects waiters and removes the socket", async (t) => {
  const { agent, connect } = await setup(t);
  const c = await connect();
  await c.write(ping(1));
  const future = agent.waitForRequest((r) => r.id === 2);
  assert.deepEqual(await agent.waitForRequest((r) => r.id === 1), { execute: "guest-ping", id: 1 });
  await c.write(ping(2));
  assert.deepEqual(await future, { execute: "guest-ping", id: 2 });
  const never = assert.rejects(
    agent.waitForRequest(() => false),
    /stopped/,
  );
  await agent.stop();
  await never;
  await assert.rejects(RawClient.connect(agent.path), { code: "ENOENT" });
});

test("the fake answers byte for byte like the real qemu-ga", { skip: skipWithout("qemu-ga") }, async (t) => {
  for (const transcript of [scriptTranscript, clientsTranscript]) {
    const real = await startRealAgent({ dir: await tempDir(t) });
    t.after(() => real.kill());
    const expected = await transcript(real.socket);
    await real.kill();
    const { agent } = await setup(t, { disabled: MACHINE_CHANGING_COMMANDS });
    assert.deepEqual(await transcript(agent.path), expected);
  }
});
