import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentConduct, type ConductOptions } from "../../src/qga/conduct.js";
import { FloodMeter } from "../../src/qga/flood-meter.js";
import { silentLogger } from "../../src/qga/logger.js";

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

test("the flood meter says so once a window passes a limit of lines, with counts per kind", () => {
  const time = clock();
  const meter = new FloodMeter({ windowMs: 10_000, maxLines: 10, maxBytes: 1e9 }, time.now);
  for (let i = 0; i < 10; i++) assert.equal(meter.add(i < 4 ? "unparsable" : "unmatched", 1, 30), undefined);
  time.advance(250);
  const reading = meter.add("unmatched", 1, 30);
  assert.deepEqual(reading, {
    lines: 11,
    bytes: 330,
    counts: { unparsable: 4, unmatched: 7 },
    elapsedMs: 250,
    limit: "lines",
  });
  assert.equal(meter.add("unmatched", 1, 30), undefined, "it starts over after saying so");
});

test("the flood meter counts bytes, also of parts of a line (lines: 0)", () => {
  const meter = new FloodMeter({ windowMs: 10_000, maxLines: 10, maxBytes: 1_000 }, clock().now);
  assert.equal(meter.add("oversized", 0, 1_000), undefined);
  assert.equal(meter.add("oversized", 0, 1)?.limit, "bytes");
});

test("the flood meter forgets what is older than its window", () => {
  const time = clock();
  const meter = new FloodMeter({ windowMs: 10_000, maxLines: 10, maxBytes: 1e9 }, time.now);
  for (let minute = 0; minute < 10; minute++) {
    for (let i = 0; i < 10; i++) assert.equal(meter.add("unmatched", 1, 1), undefined);
    time.advance(10_000);
  }
});

const FAST: ConductOptions = {
  windowMs: 10_000,
  maxLines: 5,
  maxBytes: 1e9,
  cutOff: { initialMs: 15_000, maxMs: 60_000 },
};

/** Sends `maxLines + 1` unasked lines: one cut-off. */
function flood(conduct: AgentConduct): string | undefined {
  let reason: string | undefined;
  for (let i = 0; i <= FAST.maxLines && reason === undefined; i++)
    reason = conduct.unasked("unmatched", 1, 40);
  return reason;
}

test("a flooding agent is cut off for 15 s, then twice as long each time, at most the cap", () => {
  const time = clock();
  const conduct = new AgentConduct(FAST, silentLogger, time.now);
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) {
    assert.match(flood(conduct) ?? "", /flooded its channel: 6 lines \(240 bytes\).*cut off for/);
    const misbehaviour = conduct.misbehaviour;
    assert.ok(misbehaviour);
    lengths.push(misbehaviour.cutOffMs);
    assert.equal(misbehaviour.until, time.now() + misbehaviour.cutOffMs);
    time.advance(misbehaviour.cutOffMs - 1);
    assert.ok(conduct.misbehaviour, "still cut off 1 ms before the end");
    time.advance(1);
    assert.equal(conduct.misbehaviour, undefined, "over at its end");
  }
  assert.deepEqual(lengths, [15_000, 30_000, 60_000, 60_000, 60_000]);
});

test("an agent that behaved for longer than the cap since its last cut-off starts again at 15 s", () => {
  const time = clock();
  const conduct = new AgentConduct(FAST, silentLogger, time.now);
  flood(conduct);
  time.advance(15_000);
  flood(conduct);
  assert.equal(conduct.misbehaviour?.cutOffMs, 30_000);
  time.advance(30_000 + 60_001);
  flood(conduct);
  assert.equal(conduct.misbehaviour?.cutOffMs, 15_000);
});
