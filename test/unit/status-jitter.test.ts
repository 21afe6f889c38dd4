import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { firstDelay, nextDelay } from "../../src/status/poller.js";

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
