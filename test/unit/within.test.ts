import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { within, withinOrFail } from "../../src/async/within.js";

/** Timers alive in this process now: what within() must not leave behind. */
function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}

test("a promise that settles in time gives its value, boxed (undefined too), and leaves no timer", async () => {
  const before = timers();
  assert.deepEqual(await within(Promise.resolve(7), 10_000), { value: 7 });
  assert.deepEqual(await within(Promise.resolve(undefined), 10_000), { value: undefined });
  assert.deepEqual(await within(sleep(5, "late but in time"), 10_000), { value: "late but in time" });
  assert.equal(timers(), before);
});

test("a promise slower than the time gives undefined once the time has passed", async () => {
  const started = Date.now();
  assert.equal(await within(new Promise(() => {}), 30), undefined);
  assert.ok(Date.now() - started >= 25);
  assert.equal(await within(new Promise(() => {}), -5), undefined, "a time already spent is no time");
});

test("a rejection in time is the outcome; one after the time is nobody's unhandled rejection", async () => {
  await assert.rejects(within(Promise.reject(new Error("refused")), 10_000), /refused/);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const late = sleep(20).then(() => {
      throw new Error("too late");
    });
    assert.equal(await within(late, 1), undefined);
    await sleep(40);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("withinOrFail gives the value, or rejects with the caller's own error once the time has passed", async () => {
  const expired = () => new RangeError("no answer in time");
  assert.equal(await withinOrFail(Promise.resolve("ok"), 10_000, expired), "ok");
  await assert.rejects(withinOrFail(new Promise(() => {}), 5, expired), RangeError);
  await assert.rejects(withinOrFail(Promise.reject(new Error("its own")), 10_000, expired), /its own/);
});
