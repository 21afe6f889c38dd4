import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { Policy } from "../../src/commands/policy.js";
import { type CommandAudit, CommandRunner, type CommandTarget } from "../../src/commands/runner.js";
import { Transfers } from "../../src/commands/transfer/transfers.js";
import { ExecTracker } from "../../src/commands/verbs/exec-tracker.js";
import { Config } from "../../src/config/schema.js";
import type { GuestAgent } from "../../src/qga/client.js";
import { AgentBusyError } from "../../src/qga/errors.js";

/** A stand-in for the agent: records calls and answers with what the test gives it. */
function target(answer: (name: string) => Promise<unknown>): {
  target: CommandTarget;
  calls: string[];
  logs: string[];
} {
  const calls: string[] = [];
  const logs: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => logs.push(line) });
  const agent = {
    execute: (name: string) => {
      calls.push(name);
      return answer(name);
    },
    call: (name: string) => {
      calls.push(name);
      return answer(name);
    },
  } as unknown as GuestAgent;
  return {
    target: {
      vm: "vm1",
      groups: [],
      restriction: {},
      agent,
      log,
      pollStatus: () => Promise.reject(new Error("unused")),
      emit: () => {},
      execs: new ExecTracker(agent),
      transfers: new Transfers({ vm: "vm1", log, maxTransfers: 8, idleMs: 600_000 }),
    },
    calls,
    logs,
  };
}

function runner(audits: CommandAudit[] = []) {
  return new CommandRunner({
    policy: new Policy({ default: ["read"], groups: {}, vms: {} }),
    limits: { ...Config.parse({}).limits, maxPayloadBytes: 4096, maxDepth: 8, maxTimeoutSeconds: 60 },
    audit: (_vm, record) => audits.push(record),
    log: pino({ level: "silent" }),
  });
}

const payload = (body: object) => Buffer.from(JSON.stringify(body));

test("a bug in a verb or the agent is `internal`, logged with its stack, and the next request is served", async () => {
  let fail = true;
  const { target: t, logs } = target(async () => {
    if (fail) throw new TypeError("boom");
    return {};
  });
  const r = runner();
  const reply = await r.handle(t, { command: "guest-ping", payload: payload({ id: "a" }), retain: false });
  assert.equal(reply.error?.code, "internal");
  assert.doesNotMatch(reply.error?.message ?? "", /boom/);
  assert.ok(logs.some((line) => line.includes('"stack"') && line.includes("boom")));
  fail = false;
  assert.equal(
    (await r.handle(t, { command: "guest-ping", payload: payload({ id: "b" }), retain: false })).ok,
    true,
  );
});

test("a request refused before reaching the guest is not remembered: the same id runs once it can", async () => {
  let busy = true;
  const { target: t, calls } = target(async () => {
    if (busy) throw new AgentBusyError("full");
    return { "host-name": "g" };
  });
  const r = runner();
  const first = await r.handle(t, {
    command: "guest-get-host-name",
    payload: payload({ id: "x" }),
    retain: false,
  });
  assert.equal(first.error?.code, "busy");
  busy = false;
  const second = await r.handle(t, {
    command: "guest-get-host-name",
    payload: payload({ id: "x" }),
    retain: false,
  });
  assert.equal(second.ok, true);
  const third = await r.handle(t, {
    command: "guest-get-host-name",
    payload: payload({ id: "x" }),
    retain: false,
  });
  assert.deepEqual(third, second);
  assert.equal(calls.length, 2);
});

test("a retained request is refused before anything else, even an unparsable one", async () => {
  const { target: t, calls } = target(async () => ({}));
  const r = runner();
  const reply = await r.handle(t, { command: "guest-ping", payload: payload({ id: "r" }), retain: true });
  assert.equal(reply.error?.code, "retained_command");
  assert.equal(reply.id, "r");
  const garbage = await r.handle(t, { command: "guest-ping", payload: Buffer.from("{{{"), retain: true });
  assert.equal(garbage.error?.code, "retained_command");
  assert.equal(calls.length, 0);
});

test("the audit record names the command, outcome and who the client claims to be, never the arguments", async () => {
  const audits: CommandAudit[] = [];
  const { target: t } = target(async () => ({}));
  const r = runner(audits);
  await r.handle(t, {
    command: "guest-ssh-get-authorized-keys",
    payload: payload({ id: "k", args: { username: "secret-user" } }),
    retain: false,
    requester: "ops-script",
  });
  assert.equal(audits.length, 1);
  assert.deepEqual(Object.keys(audits[0] ?? {}).sort(), [
    "claimed_by",
    "command",
    "event",
    "id",
    "ms",
    "outcome",
  ]);
  assert.doesNotMatch(JSON.stringify(audits), /secret-user/);
});

test("unknown commands get a hint for a near miss", async () => {
  const { target: t } = target(async () => ({}));
  const r = runner();
  const reply = await r.handle(t, { command: "Guest-Ping", payload: Buffer.alloc(0), retain: false });
  assert.equal(reply.error?.code, "unknown_command");
  assert.match(reply.error?.message ?? "", /did you mean guest-ping\?/);
  const verb = await r.handle(t, { command: "guest-reboot", payload: Buffer.alloc(0), retain: false });
  assert.match(verb.error?.message ?? "", /did you mean reboot\?/);
});

test("typos get the nearest name by edit distance; nothing far is suggested", async () => {
  const { target: t } = target(async () => ({}));
  const r = runner();
  const hint = async (command: string) =>
    (await r.handle(t, { command, payload: Buffer.alloc(0), retain: false })).error?.message ?? "";
  // Before: only case and the guest- prefix were suggested, so these got no hint at all.
  assert.match(await hint("guest-get-timezon"), /did you mean guest-get-timezone\?/);
  assert.match(await hint("pign"), /did you mean ping\?/);
  assert.match(await hint("guest-fiel-read"), /did you mean guest-file-read\?/);
  assert.doesNotMatch(await hint("completely-different"), /did you mean/);
});

test("a command that changes the guest is logged at info, a read at debug (reads by automations are frequent)", async () => {
  const { target: t, logs } = target(async () => ({}));
  const r = new CommandRunner({
    policy: new Policy({ default: ["all"], groups: {}, vms: {} }),
    limits: Config.parse({}).limits,
    audit: () => {},
    log: pino({ level: "silent" }),
  });
  await r.handle(t, { command: "ping", payload: payload({ id: "p" }), retain: false });
  await r.handle(t, { command: "guest-get-osinfo", payload: payload({ id: "o" }), retain: false });
  await r.handle(t, { command: "guest-fsfreeze-thaw", payload: payload({ id: "t" }), retain: false });
  const done = logs
    .map((line) => JSON.parse(line) as { msg: string; level: number; command: string })
    .filter((line) => line.msg === "command done")
    .map((line) => [line.command, line.level]);
  assert.deepEqual(done, [
    ["ping", 20],
    ["guest-get-osinfo", 20],
    ["guest-fsfreeze-thaw", 30],
  ]);
});

test("a forbidden command names its set and the configuration key that decides, verb or raw", async () => {
  const { target: t } = target(async () => ({}));
  const r = runner();
  const forbidden = async (command: string) => {
    const reply = await r.handle(t, { command, payload: Buffer.alloc(0), retain: false });
    assert.equal(reply.error?.code, "forbidden");
    return reply.error?.message ?? "";
  };
  // Before: a raw command got no set at all ("the policy does not allow guest-exec on vm1").
  assert.match(
    await forbidden("guest-exec"),
    /"exec" set; policy\.default decides for vm1: add "exec" or guest-exec there/,
  );
  assert.match(await forbidden("reboot"), /"power" set; policy\.default decides/);
  assert.match(
    await forbidden("guest-set-vcpus"),
    /"all" set; policy\.default decides for vm1: add guest-set-vcpus there/,
  );
});
