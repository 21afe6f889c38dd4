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
  const first = clock.now();
  assert.ok(Math.abs(first - (real() + stepMs)) < 2, `${first} is not the stepped time`);
  // Anchored again: later readings follow the monotonic clock from the new anchor, never going back.
  let previous = first;
  for (let i = 0; i < 100; i++) {
    const now = clock.now();
    assert.ok(now >= previous, "the clock went back");
    assert.ok(Math.abs(now - (real() + stepMs)) < 2);
    previous = now;
  }
});
