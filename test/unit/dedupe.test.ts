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
