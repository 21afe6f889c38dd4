import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { DedupeWindow } from "../../src/commands/dedupe.js";

test("a remembered outcome is returned until the window passes", async () => {
  let now = 1_000;
  const window = new DedupeWindow<string>(600_000, 100, () => now);
  window.remember("vm\u0000r1", Promise.resolve("first"));
  assert.equal(await window.get("vm\u0000r1"), "first");
  now += 599_999;
  assert.equal(await window.get("vm\u0000r1"), "first");
  now += 1;
  assert.equal(window.get("vm\u0000r1"), undefined);
});

test("the window is bounded: the oldest entries go first", () => {
  const window = new DedupeWindow<number>(60_000, 3);
  for (let i = 0; i < 5; i++) window.remember(`k${i}`, Promise.resolve(i));
  assert.equal(window.size, 3);
  assert.equal(window.get("k0"), undefined);
  assert.ok(window.get("k4"));
});

test("a reply dropped from the window is not kept alive by it", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const window = new DedupeWindow<object>(60_000, 3);
  // In a function of its own, so that nothing here holds the reply but the window.
  const first = ((): WeakRef<object> => {
    const reply = { id: "r0" };
    window.remember("k0", Promise.resolve(reply));
    return new WeakRef(reply);
  })();
  for (let i = 1; i <= 3; i++) window.remember(`k${i}`, Promise.resolve({ id: `r${i}` }));
  assert.equal(window.get("k0"), undefined);
  // A WeakRef's target lives at least until the current job ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(first.deref(), undefined, "the dropped reply is still reachable through the window");
});

test("a running request's duplicate shares its outcome", async () => {
  const window = new DedupeWindow<string>(60_000);
  let finish: (value: string) => void = () => {};
  window.remember("k", new Promise((resolve) => (finish = resolve)));
  const duplicate = window.get("k");
  finish("done");
  assert.equal(await duplicate, "done");
});

test("a zero window remembers nothing", () => {
  const window = new DedupeWindow<string>(0);
  window.remember("k", Promise.resolve("x"));
  assert.equal(window.get("k"), undefined);
});

test("a settled value over maxValueBytes is not kept: its stand-in answers", async () => {
  const window = new DedupeWindow<string>(60_000, 100, Date.now, { maxBytes: 1000, maxValueBytes: 100 });
  const entry = window.remember("k", Promise.resolve("x".repeat(500)))!;
  window.settle(entry, 502, () => "stand-in");
  assert.equal(await window.get("k"), "stand-in");
  assert.equal(window.keptValueBytes, 0);
});

test("over maxBytes the oldest kept values shrink to their stand-ins; the newest stay whole", async () => {
  const window = new DedupeWindow<string>(60_000, 100, Date.now, { maxBytes: 250, maxValueBytes: 100 });
  for (let i = 0; i < 5; i++) {
    const entry = window.remember(`k${i}`, Promise.resolve(`value ${i}`))!;
    window.settle(entry, 100, () => `stand-in ${i}`);
  }
  assert.equal(window.keptValueBytes, 200);
  assert.equal(window.size, 5, "every id is still known: a repeat never runs again");
  assert.deepEqual(await Promise.all([0, 1, 2, 3, 4].map((i) => window.get(`k${i}`))), [
    "stand-in 0",
    "stand-in 1",
    "stand-in 2",
    "value 3",
    "value 4",
  ]);
});

test("kept bytes go down as entries expire", () => {
  let now = 0;
  const window = new DedupeWindow<string>(1_000, 100, () => now, { maxBytes: 10_000, maxValueBytes: 1_000 });
  for (let i = 0; i < 3; i++) window.settle(window.remember(`a${i}`, Promise.resolve("a"))!, 500, () => "s");
  assert.equal(window.keptValueBytes, 1_500);
  now = 2_000;
  window.settle(window.remember("b", Promise.resolve("b"))!, 300, () => "s");
  assert.equal(window.keptValueBytes, 300);
});
