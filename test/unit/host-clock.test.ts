import assert from "node:assert/strict";
import { test } from "node:test";
import { HostClock } from "../../src/status/clock.js";

test("the host clock agrees with Date.now() to within its millisecond truncation", () => {
  const clock = new HostClock();
  for (let i = 0; i < 100; i++) {
    const before = Date.now();
    const now = clock.now();
    const after = Date.now();
    assert.ok(now >= before - 0.5 && now < after + 1.5, `${now} outside [${before}, ${after}]`);
  }
});

test("a step of the wall clock re-anchors the host clock, which then keeps to the new time", (t) => {
  const clock = new HostClock();
  const real = Date.now.bind(Date);
  const stepMs = 3_600_000;
  t.mock.method(Date, "now", () => real() + stepMs);
  // Bracketed by readings of the stepped wall clock, not compared with one taken after: a pause between
  // the two (GC, a busy CI machine) must not read as a wrong clock.
  const within = (read: () => number): number => {
    const before = real() + stepMs;
    const now = read();
    const after = real() + stepMs;
    assert.ok(now >= before - 0.5 && now < after + 1.5, `${now} outside the stepped [${before}, ${after}]`);
    return now;
  };
  const first = within(() => clock.now());
  // Anchored again: later readings follow the monotonic clock from the new anchor, never going back.
  let previous = first;
  for (let i = 0; i < 100; i++) {
    const now = within(() => clock.now());
    assert.ok(now >= previous, "the clock went back");
    previous = now;
  }
});
