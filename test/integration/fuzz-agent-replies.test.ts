import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { lookupCommand } from "../../src/qga/catalogue/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { QgaError } from "../../src/qga/errors.js";
import { FakeAgent } from "../fakes/fake-agent.js";

/**
 * Issue 18: the guest's root writes every byte of its agent's replies. Generated hostile replies to read
 * commands (wrong types, huge strings, deep nesting, huge arrays, NaN-like numbers, odd unicode and bytes
 * that are not UTF-8, duplicate keys, __proto__ keys, replies cut at every byte, garbage between lines),
 * through the real client over a unix socket. Each call settles: it resolves with a result its schema
 * accepts and that can be published, or fails with a QgaError. The same connection then serves the next
 * call, and nothing throws anywhere else.
 */
const RUNS_PER_COMMAND = 150;
const MAX_REPLY_BYTES = 256 * 1024;
const MAX_REPLY_NODES = 50_000;

const COMMANDS = [
  "guest-get-host-name",
  "guest-get-osinfo",
  "guest-get-vcpus",
  "guest-get-time",
  "guest-get-users",
] as const;
type Command = (typeof COMMANDS)[number];

/** Raw bytes that are not UTF-8 (0xFF is left out: it is the sync delimiter, generated on its own). */
const NOT_UTF8 = Buffer.from([0xc3, 0x28, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]);
/** Stands for NOT_UTF8 in the generated text; swapped for the bytes when the line is built. */
const NOT_UTF8_MARK = "\u0001NOT-UTF8\u0001";

const number = fc.constantFrom(
  "NaN",
  "Infinity",
  "-Infinity",
  "1e400",
  "-1e400",
  "-0",
  "1e-400",
  "0.1",
  "9007199254740993",
  "18446744073709551616",
  "-9223372036854775809",
  "-1",
);
const oddString = fc.constantFrom(
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\u0000"',
  '"\\u2028\\u202e\\ufeff"',
  '"\u00e9\u{1f600}"',
  `"${NOT_UTF8_MARK}"`,
  '""',
);
const leaf = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  number,
  oddString,
  fc.string({ unit: "binary", maxLength: 30 }).map((s) => JSON.stringify(s)),
  // Huge strings, some over maxReplyBytes.
  fc.integer({ min: 1, max: 400_000 }).map((n) => `"${"x".repeat(n)}"`),
);
const deep = fc
  .tuple(fc.integer({ min: 1, max: 100_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );
// Huge arrays, some over maxReplyNodes.
const wide = fc.integer({ min: 0, max: 80_000 }).map((n) => `[${Array(n).fill("0").join(",")}]`);
const key = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "id", "return", "error"),
  fc.constantFrom("host-name", "name", "logical-id", "online", "user", "login-time", "domain"),
  fc.string({ maxLength: 8 }),
);
/** An object, possibly with duplicate keys (the small key set makes them common). */
const object = (value: fc.Arbitrary<string>) =>
  fc
    .array(fc.tuple(key, value), { maxLength: 6 })
    .map((members) => `{${members.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}`);
const list = (item: fc.Arbitrary<string>) =>
  fc.array(item, { maxLength: 4 }).map((items) => `[${items.join(", ")}]`);

/** A member of the right type as often as a hostile one, so that replies are accepted too. */
const string = fc.oneof(
  fc.string({ unit: "binary", maxLength: 20 }).map((s) => JSON.stringify(s)),
  oddString,
  leaf,
);
const int = fc.oneof(fc.nat().map(String), fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String), leaf);
const double = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  leaf,
);
const bool = fc.oneof(fc.boolean().map(String), leaf);

/** Return values close to each command's real one, with hostile parts. */
const nearlyValid: Record<Command, fc.Arbitrary<string>> = {
  "guest-get-host-name": fc.oneof(
    string.map((v) => `{"host-name": ${v}}`),
    string.map((v) => `{"host-name": "first", "host-name": ${v}}`),
    string.map((v) => `{"__proto__": {"polluted": true}, "host-name": ${v}}`),
  ),
  "guest-get-osinfo": object(string),
  "guest-get-vcpus": list(
    fc
      .tuple(int, bool)
      .map(([id, online]) => `{"logical-id": ${id}, "online": ${online}, "can-offline": true}`),
  ),
  "guest-get-time": int,
  "guest-get-users": list(
    fc.tuple(string, double).map(([user, time]) => `{"user": ${user}, "login-time": ${time}}`),
  ),
};

const value = (command: Command) =>
  fc.oneof(
    { weight: 4, arbitrary: nearlyValid[command] },
    { weight: 1, arbitrary: leaf },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: wide },
    { weight: 1, arbitrary: object(leaf) },
    { weight: 1, arbitrary: list(object(leaf)) },
  );

/** A whole reply line (without "\n"); `$ID` is the request's id where the agent echoes ids. */
const replyLine = (command: Command, ids: boolean) => {
  const id = ids ? ', "id": $ID' : "";
  return fc.oneof(
    { weight: 6, arbitrary: value(command).map((v) => `{"return": ${v}${id}}`) },
    {
      weight: 1,
      arbitrary: fc.tuple(leaf, leaf).map(([c, d]) => `{"error": {"class": ${c}, "desc": ${d}}${id}}`),
    },
    { weight: 1, arbitrary: value(command).map((v) => `{"return": 1, "return": ${v}${id}}`) },
    { weight: 1, arbitrary: value(command).map((v) => `{"return": ${v}, "id": "someone-else"${id}}`) },
    {
      weight: 1,
      arbitrary: value(command).map((v) => `{"__proto__": {"polluted": 1}, "return": ${v}${id}}`),
    },
    { weight: 1, arbitrary: value(command).map((v) => `{"return": ${v}${id}, "unexpected": 1}`) },
  );
};

/**
 * Something that is no reply of ours, sent before (or, with ids, after) it. A well-formed reply that is
 * not ours only where ids tell it apart: without them a second reply line is the next call's, as far as
 * anyone can tell (so it is left out there).
 */
const garbage = (ids: boolean) =>
  fc.oneof(
    fc.string({ minLength: 1, maxLength: 60 }).map((s) => Buffer.from(`${s.replace(/\n/g, " ")}\n`)),
    fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((bytes) => Buffer.concat([Buffer.from(bytes), Buffer.from("\n")])),
    // A partial line, then the 0xFF that makes the client drop it.
    fc
      .string({ maxLength: 40 })
      .map((s) => Buffer.concat([Buffer.from(s.replace(/\n/g, " ")), Buffer.from([0xff])])),
    ...(ids ? [fc.constant(Buffer.from('{"return": {}, "id": "not-ours"}\n'))] : []),
  );

interface Delivery {
  readonly line: string;
  readonly before: Buffer | undefined;
  readonly after: Buffer | undefined;
  /** "every": one write per byte; else the offsets to cut the line at. */
  readonly cuts: "every" | readonly number[];
}

function deliveries(command: Command, ids: boolean): fc.Arbitrary<Delivery> {
  return fc.record({
    line: replyLine(command, ids),
    before: fc.option(garbage(ids), { nil: undefined }),
    // Without ids, a line after the reply cannot be told from the next call's reply: only with ids.
    after: ids ? fc.option(garbage(ids), { nil: undefined }) : fc.constant(undefined),
    cuts: fc.oneof(fc.constant<"every">("every"), fc.array(fc.nat(), { maxLength: 8 })),
  });
}

/** The line's bytes, with the request's id and NOT_UTF8 in place of their marks. */
function lineBytes(line: string, id: string): Buffer {
  const parts = line.replaceAll("$ID", id).split(NOT_UTF8_MARK);
  return Buffer.concat(
    parts.flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [NOT_UTF8, Buffer.from(part)])),
  );
}

/** The writes the fake makes for the request whose id is `id` (JSON text). */
function pieces(delivery: Delivery, id: string): Buffer[] {
  const line = Buffer.concat([lineBytes(delivery.line, id), Buffer.from("\n")]);
  // One write per byte only for lines short enough; long ones are cut at a few places.
  const cuts =
    delivery.cuts === "every" && line.length <= 2048
      ? Array.from({ length: line.length }, (_, i) => i)
      : delivery.cuts === "every"
        ? [1, 2, 3]
        : delivery.cuts;
  const at = [...new Set(cuts.map((c) => c % (line.length + 1)))].sort((a, b) => a - b);
  const cut: Buffer[] = [];
  let start = 0;
  for (const point of [...at, line.length]) {
    if (point > start) cut.push(line.subarray(start, point));
    start = point;
  }
  return [...(delivery.before ? [delivery.before] : []), ...cut, ...(delivery.after ? [delivery.after] : [])];
}

let dir: string;
const thrownElsewhere: unknown[] = [];
const keep = (error: unknown): void => void thrownElsewhere.push(error);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-fuzz-replies-"));
  process.on("uncaughtException", keep);
  process.on("unhandledRejection", keep);
});

after(async () => {
  process.off("uncaughtException", keep);
  process.off("unhandledRejection", keep);
  await rm(dir, { recursive: true, force: true });
});

for (const ids of [true, false]) {
  describe(ids ? "an agent that echoes ids" : "an agent without ids (every line is the call's)", () => {
    let fake: FakeAgent;
    let client: GuestAgent;

    before(async () => {
      fake = await FakeAgent.start({
        path: path.join(dir, `agent-${ids}.sock`),
        echoIds: ids,
        commands: {
          "guest-get-vcpus": () => [{ "logical-id": 0, online: true, "can-offline": false }],
          "guest-get-users": () => [],
        },
      });
      client = new GuestAgent({
        address: fake.path,
        timeoutMs: 5_000,
        maxReplyBytes: MAX_REPLY_BYTES,
        maxReplyNodes: MAX_REPLY_NODES,
        // Hundreds of hostile lines a second are what the flood limits stop (agent-flood.test.ts); here
        // every call must reach the agent.
        flood: { maxLines: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER },
      });
      await client.call("guest-ping");
    });

    after(async () => {
      await client.stop();
      await fake.stop();
    });

    for (const command of COMMANDS) {
      test(`${RUNS_PER_COMMAND} hostile replies to ${command}: each call settles, the next call is served`, {
        timeout: 120_000,
      }, async () => {
        const outcomes = new Map<string, number>();
        const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
        const spec = lookupCommand(command);
        assert.ok(spec);
        await fc.assert(
          fc.asyncProperty(deliveries(command, ids), async (delivery) => {
            fake.fault(command, { kind: "pieces", pieces: (id) => pieces(delivery, id) });
            try {
              const result = await client.call(command);
              assert.ok(spec.result.safeParse(result).success, "a result its schema accepts");
              // What the worker does with it next: this overflowed the stack on a deep reply (hole 6).
              JSON.stringify(result);
              count("ok");
            } catch (error) {
              assert.ok(error instanceof QgaError, `${String(error)} for ${delivery.line.slice(0, 200)}`);
              count(
                error instanceof QgaError && "errorClass" in error ? String(error.errorClass) : error.code,
              );
            }
            // The same connection serves the next call.
            assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
          }),
          { numRuns: RUNS_PER_COMMAND, includeErrorInReport: true },
        );
        assert.equal(fake.connections, 1, "never reconnected: the channel recovered each time");
        assert.equal(client.state, "online");
        // The generator reaches both ends: results accepted, and replies refused for their shape.
        assert.ok((outcomes.get("ok") ?? 0) > 0, JSON.stringify([...outcomes]));
        assert.ok((outcomes.get("InvalidReply") ?? 0) > 0, JSON.stringify([...outcomes]));
        assert.deepEqual(thrownElsewhere, []);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      });
    }
  });
}
