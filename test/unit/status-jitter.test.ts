import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { alignedDelay, firstDelay, nextDelay } from "../../src/status/poller.js";

test("first delay is spread over min(interval, 2 s)", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.integer({ min: 1, max: 1e6 }),
      (r, interval) => {
        const delay = firstDelay(interval, () => r);
        return delay >= 0 && delay < Math.min(interval, 2_000) + 1e-9;
      },
    ),
  );
  assert.equal(
    firstDelay(30_000, () => 0.5),
    1_000,
  );
  assert.equal(
    firstDelay(500, () => 0.5),
    250,
  );
});

test("next delay stays within interval ± jitter", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.double({ min: 0, max: 0.9, noNaN: true }),
      (r, jitter) => {
        const delay = nextDelay(10_000, jitter, () => r);
        return delay >= 10_000 * (1 - jitter) - 1e-6 && delay < 10_000 * (1 + jitter) + 1e-6;
      },
    ),
  );
  assert.equal(
    nextDelay(10_000, 0.1, () => 0),
    9_000,
  );
  assert.equal(
    nextDelay(10_000, 0.1, () => 0.5),
    10_000,
  );
  assert.ok(nextDelay(10_000, 0.1, () => 0.999_999) < 11_000);
  // Nonsense jitter is clamped: never a negative or zero delay.
  assert.ok(nextDelay(10_000, 5, () => 0) > 0);
  assert.equal(
    nextDelay(10_000, -1, () => 0),
    10_000,
  );
});

test("alignedDelay: the next point of the grid at or after the delay, never sooner", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 600_000 }),
      fc.integer({ min: 1, max: 3_600_000 }),
      fc.integer({ min: 0, max: 2 ** 41 }),
      (delayMs, intervalMs, now) => {
        const aligned = alignedDelay(delayMs, intervalMs, now);
        // Never sooner, and later by less than 100 ms and less than a tenth of the interval.
        if (aligned < delayMs || aligned - delayMs >= Math.min(100, Math.max(1, intervalMs / 10)))
          return false;
        // From a 1 s interval on, polls start on the 100 ms grid.
        return intervalMs < 1000 || (now + aligned) % 100 === 0;
      },
    ),
  );
});

test("alignedDelay: a 100 ms grid for a 30 s interval, a tenth of short ones, none under 2 ms", () => {
  assert.equal(alignedDelay(200, 30_000, 1_000_030), 270); // due at 1,000,230 → 1,000,300
  assert.equal(alignedDelay(200, 500, 1_000_030), 220); // step 50: due at 1,000,230 → 1,000,250
  assert.equal(alignedDelay(200, 30_000, 1_000_000), 200); // already on the grid
  assert.equal(alignedDelay(7, 15, 1_000_030), 7); // step 1: unchanged
});
