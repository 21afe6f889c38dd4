import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { GuestAgent } from "../../src/qga/client.js";
import { QgaError } from "../../src/qga/errors.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { startVerbRunner, type VerbRunner } from "../helpers/verb-runner.js";

/**
 * Hostile input never crashes the worker or leaks: 10,000 generated payloads per command topic (wrong
 * types, huge and deep values, invalid UTF-8, binary, prototype-pollution keys) through the real command
 * path (CommandRunner, the guest-agent client, the fake agent), each answered with a code of the contract
 * that fits, never `internal`.
 */
const RUNS = 10_000;
let dir: string;
let runner: VerbRunner;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-fuzz-"));
  runner = await startVerbRunner(dir, { limits: { maxPayloadBytes: 64 * 1024, defaultTimeoutSeconds: 2 } });
});

after(async () => {
  await runner?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const hostileKey = fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty");
const leaf = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(2 ** 64),
  fc.constant(-1),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("node"), { maxLength: 4 }), tie("object")),
  object: fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), hostileKey), tie("node"), { maxKeys: 5 }),
}));

/** Bytes a publisher could send: structured requests mostly, raw bytes and oddities sometimes. */
function payloads(argNames: readonly string[]): fc.Arbitrary<Buffer> {
  const args = fc.dictionary(
    fc.oneof(
      fc.constantFrom(...(argNames.length > 0 ? argNames : ["unexpected"])),
      fc.string({ maxLength: 8 }),
      hostileKey,
    ),
    value.node,
    {
      maxKeys: 6,
    },
  );
  const envelope = fc.record(
    {
      id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer()),
      args: fc.oneof(args, value.node),
      timeout: fc.oneof(fc.double(), fc.integer()),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 6, arbitrary: envelope.map((e) => Buffer.from(JSON.stringify(e))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)) },
    {
      weight: 1,
      arbitrary: fc.nat({ max: 200 }).map((d) => Buffer.from(`${'{"args":'.repeat(d)}1${"}".repeat(d)}`)),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ maxLength: 40 })
        .map((s) =>
          Buffer.concat([
            Buffer.from(`{"id":"${s.replace(/"/g, "")}`),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('"}'),
          ]),
        ),
    },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(70 * 1024, 0x41)) },
  );
}

const ALLOWED = new Set([
  "invalid_payload",
  "invalid_arguments",
  "unsupported",
  "agent_error",
  "timeout",
  "forbidden",
  "frozen",
  "busy",
]);

const topics: Array<[string, readonly string[]]> = [
  ["exec", ["path", "args", "env", "stdin", "stdin_encoding", "capture"]],
  ["write-file", ["path", "content", "encoding", "mode"]],
  ["read-file", ["path", "offset", "length"]],
  ["set-password", ["user", "password", "crypted"]],
  ["freeze", ["mountpoints"]],
  ["ping", []],
  ["guest-file-write", ["handle", "buf-b64", "count"]],
  ["guest-exec", ["path", "arg", "env", "input-data", "capture-output"]],
];

for (const [command, argNames] of topics) {
  test(`${RUNS} hostile payloads on cmd/${command}: a fitting error code each, never internal`, {
    timeout: 120_000,
  }, async () => {
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(payloads(argNames), async (payload) => {
        const reply = await runner.sendRaw(command, payload);
        assert.equal(reply.command, command);
        const secret = passwordOf(payload);
        if (secret) assert.ok(!JSON.stringify(reply).includes(secret), "the reply quotes the password");
        if (reply.ok) return;
        const code = reply.error?.code ?? "missing";
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.ok(
          ALLOWED.has(code),
          `${code}: ${reply.error?.message} for ${payload.toString("utf8").slice(0, 200)}`,
        );
      }),
      { numRuns: RUNS },
    );
    assert.ok(
      (codes.get("invalid_payload") ?? 0) > 0 &&
        (codes.get("invalid_arguments") ?? 0) + (codes.get("invalid_payload") ?? 0) > RUNS / 10,
    );
    // Nothing leaked onto the prototype of plain objects.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
}

/** The password a set-password payload carries, when it is one worth looking for in a reply. */
function passwordOf(payload: Buffer): string | undefined {
  try {
    const password = (JSON.parse(payload.toString("utf8")) as { args?: { password?: unknown } }).args
      ?.password;
    return typeof password === "string" && password.length >= 6 ? password : undefined;
  } catch {
    return undefined;
  }
}

test(`${RUNS} hostile agent replies: each call resolves or fails with a code, and the channel recovers`, {
  timeout: 180_000,
}, async () => {
  // An agent without ids (before QEMU 4.0): every line it sends is taken as the reply to the call in
  // flight, so every generated line is really parsed, validated and recovered from.
  const fake = await FakeAgent.start({ path: path.join(dir, "replies.sock"), echoIds: false });
  const agent = new GuestAgent({ address: fake.path, timeoutMs: 2_000 });
  const line = fc.oneof(
    fc.json().map((json) => `{"return": ${json}}`),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    // A blank line is no reply at all (the agent never sends one): that would only test the timeout.
    fc
      .string({ minLength: 1, maxLength: 60 })
      .map((s) => s.replace(/[\n\r]/g, " "))
      .filter((s) => s.trim() !== ""),

    fc.constant('{"error": {"class": 5, "desc": null}}'),
    fc.constant('{"return": {"host-name": 12}}'),
    fc.constant('{"return": {"host-name": "ok", "__proto__": {"polluted": true}}}'),
  );
  const codes = new Map<string, number>();
  try {
    await fc.assert(
      fc.asyncProperty(line, async (raw) => {
        fake.fault("guest-get-host-name", { kind: "raw", line: raw });
        try {
          await agent.call("guest-get-host-name");
          codes.set("ok", (codes.get("ok") ?? 0) + 1);
        } catch (error) {
          assert.ok(error instanceof QgaError, `${String(error)} for ${raw}`);
          codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
        }
      }),
      { numRuns: RUNS },
    );
    // Whatever came before, the next call gets its own answer.
    assert.equal((await agent.call("guest-get-host-name"))["host-name"], "fake-guest");
    assert.ok((codes.get("agent_error") ?? 0) > RUNS / 2, JSON.stringify([...codes]));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  } finally {
    await agent.stop();
    await fake.stop();
  }
});
