import assert from "node:assert/strict";
import { test } from "node:test";
import { exitCodeOf, jsonLines, progressLine, summaryLine, table } from "../../src/caller/render.js";
import { parseTarget } from "../../src/caller/target.js";

const ok = { vm: "a", command: "ping", ok: true, result: { rtt_ms: 1 }, ms: 1 };
const failed = { vm: "b", command: "ping", ok: false, error: { code: "forbidden", message: "no" }, ms: 0.2 };

test("exit codes: 0 all ok, 1 some failed, 3 some silent or nobody", () => {
  assert.equal(exitCodeOf({ expected: ["a"], replies: [ok], missing: [], unreachable: [] }), 0);
  assert.equal(exitCodeOf({ expected: ["a", "b"], replies: [ok, failed], missing: [], unreachable: [] }), 1);
  assert.equal(exitCodeOf({ expected: ["a", "c"], replies: [ok], missing: ["c"], unreachable: [] }), 3);
  assert.equal(exitCodeOf({ expected: [], replies: [], missing: [], unreachable: [] }), 3);
});

test("a VM whose worker is offline: exit 3, a worker_offline line, named in the table and summary", () => {
  const outcome = { expected: ["a"], replies: [ok], missing: [], unreachable: [{ vm: "d", worker: "w9" }] };
  assert.equal(exitCodeOf(outcome), 3);
  assert.match(table(outcome), /^d\s+-\s+-\s+worker offline: w9$/m);
  assert.equal(summaryLine(outcome), "1 expected, 1 replied: 1 ok, 0 failed, 0 no reply, 1 worker offline\n");
  const last = JSON.parse(jsonLines(outcome, "ping", 5).trim().split("\n").at(-1)!) as Record<
    string,
    unknown
  >;
  assert.equal((last.error as { code: string }).code, "worker_offline");
  assert.equal(last.vm, "d");
});

test("progress, summary, table and JSON lines say the same thing", () => {
  assert.equal(progressLine(3, 10), "3/10 replied");
  assert.equal(progressLine(3, 0), "3 replied");
  const outcome = { expected: ["a", "b", "c"], replies: [ok, failed], missing: ["c"], unreachable: [] };
  assert.equal(summaryLine(outcome), "3 expected, 2 replied: 1 ok, 1 failed, 1 no reply\n");
  assert.match(table(outcome), /^c\s+-\s+-\s+no reply$/m);
  const lines = jsonLines(outcome, "ping", 5)
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { vm: string });
  assert.deepEqual(
    lines.map((l) => l.vm),
    ["a", "b", "c"],
  );
});

test("targets: a VM, group:NAME, all; nothing that is not one topic level", () => {
  assert.deepEqual(parseTarget("web1"), { kind: "vm", vm: "web1" });
  assert.deepEqual(parseTarget("group:web"), { kind: "group", group: "web" });
  assert.deepEqual(parseTarget("all"), { kind: "group", group: "all" });
  assert.throws(() => parseTarget("a/b"), /not a VM name/);
  assert.throws(() => parseTarget("group:"), /not a VM name/);
});
