import assert from "node:assert/strict";
import { test } from "node:test";
import type { Logger } from "../../src/qga/logger.js";
import { MisbehaviourLog } from "../../src/qga/misbehaviour-log.js";

interface Line {
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

function capture(): Logger & { readonly lines: Line[] } {
  const lines: Line[] = [];
  const keep = (obj: object, msg: string) => void lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, debug: keep, info: keep, warn: keep, error: keep };
}

test("the first occurrence is logged at once with its detail; the rest as one summary per interval", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const log = capture();
  const summary = new MisbehaviourLog(log, 10_000);
  summary.record("unparsable", "this is not json");
  assert.equal(log.lines.length, 1);
  assert.deepEqual(log.lines[0]?.obj, { kind: "unparsable", detail: "this is not json" });
  assert.match(log.lines[0]?.msg ?? "", /not a reply; more of this is summarised every 10 s/);
  for (let i = 0; i < 100_000; i++) summary.record(i % 2 ? "unmatched" : "unparsable");
  summary.record("resync");
  assert.equal(log.lines.length, 1, "nothing more before the interval ends");
  t.mock.timers.tick(10_000);
  assert.equal(log.lines.length, 2);
  assert.deepEqual(log.lines[1]?.obj, {
    counts: { unparsable: 50_000, unmatched: 50_000, resync: 1 },
    seconds: 10,
  });
  assert.match(log.lines[1]?.msg ?? "", /100001 more times in the last 10 s/);
});

test("after a quiet interval the window closes, and the next occurrence is logged at once again", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const log = capture();
  const summary = new MisbehaviourLog(log, 10_000);
  summary.record("unmatched");
  t.mock.timers.tick(10_000); // nothing counted: no summary, the window closes
  assert.equal(log.lines.length, 1);
  summary.record("oversized", "the agent's reply was 99 bytes");
  assert.equal(log.lines.length, 2);
  assert.equal(log.lines[1]?.obj.kind, "oversized");
});

test("a flood at full speed for a minute costs one line per interval", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const log = capture();
  const summary = new MisbehaviourLog(log, 10_000);
  for (let second = 0; second < 60; second++) {
    for (let i = 0; i < 1_000; i++) summary.record("unmatched");
    t.mock.timers.tick(1_000);
  }
  assert.equal(log.lines.length, 1 + 6);
});

test("close() logs what is still counted, and stops", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const log = capture();
  const summary = new MisbehaviourLog(log, 10_000);
  summary.record("unmatched");
  summary.record("unmatched");
  summary.close();
  assert.equal(log.lines.length, 2);
  assert.deepEqual(log.lines[1]?.obj.counts, { unmatched: 1 });
  t.mock.timers.tick(60_000);
  assert.equal(log.lines.length, 2);
});
