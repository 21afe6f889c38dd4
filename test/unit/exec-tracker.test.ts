import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecTracker } from "../../src/commands/verbs/exec-tracker.js";
import type { GuestAgent } from "../../src/qga/client.js";

/** An agent whose processes have all exited, reaping on the first status as qemu-ga does. */
function agent() {
  const calls: number[] = [];
  const fake = {
    call: async (_name: string, args: { pid: number }) => {
      calls.push(args.pid);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { exited: true, exitcode: 0, "out-data": Buffer.from(`pid ${args.pid}`).toString("base64") };
    },
  } as unknown as GuestAgent;
  return { fake, calls };
}

test("concurrent statuses of one pid share one agent call; the result is kept", async () => {
  const { fake, calls } = agent();
  const tracker = new ExecTracker(fake);
  const [a, b] = await Promise.all([tracker.status(7, 1024, 1000), tracker.status(7, 1024, 1000)]);
  assert.deepEqual(a, b);
  assert.equal(a.exited && a.stdout, "pid 7");
  assert.deepEqual(await tracker.status(7, 1024, 1000), a);
  assert.deepEqual(calls, [7]);
});

test("kept results expire, are bounded in number, and a new process with the same pid drops the old one", async () => {
  const { fake, calls } = agent();
  let now = 1_000_000;
  const tracker = new ExecTracker(fake, () => now);
  tracker.started(1, now);
  const first = await tracker.status(1, 1024, 1000);
  assert.equal(first.ms, 0);
  tracker.started(1, now);
  await tracker.status(1, 1024, 1000);
  assert.equal(calls.length, 2, "the restarted pid is asked again");

  now += 11 * 60_000;
  await tracker.status(1, 1024, 1000);
  assert.equal(calls.length, 3, "an expired result is not kept");

  for (let pid = 100; pid < 140; pid++) await tracker.status(pid, 1024, 1000);
  const before = calls.length;
  await tracker.status(139, 1024, 1000);
  assert.equal(calls.length, before, "the newest is kept");
  await tracker.status(100, 1024, 1000);
  assert.equal(calls.length, before + 1, "the oldest was dropped past the bound");
});
