import assert from "node:assert/strict";
import { test } from "node:test";
import { Serial } from "../../src/commands/transfer/held.js";
import { Transfers } from "../../src/commands/transfer/transfers.js";
import { createLogger } from "../../src/log.js";

const log = createLogger("silent");

function held(id: string) {
  const state = { released: 0 };
  const transfer = {
    id,
    direction: "put" as const,
    path: `/data/${id}`,
    serial: new Serial(),
    get busy() {
      return this.serial.busy;
    },
    async release() {
      state.released++;
    },
  };
  return { transfer, state };
}

test("at most maxTransfers are held: the next begin is busy", async () => {
  const transfers = new Transfers({ vm: "vm1", log, maxTransfers: 2, idleMs: 60_000 });
  for (const id of ["a", "b"]) {
    await transfers.beginOnce(id, async () => {
      transfers.checkRoom();
      transfers.add(held(id).transfer);
    });
  }
  await assert.rejects(
    transfers.beginOnce("c", async () => transfers.checkRoom()),
    { code: "busy" },
  );
  transfers.forget("a");
  await transfers.beginOnce("c", async () => transfers.checkRoom());
  await transfers.stop();
});

test("an idle transfer is forgotten and released; a busy one waits; find() keeps one alive", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
  const transfers = new Transfers({ vm: "vm1", log, maxTransfers: 8, idleMs: 1000 });
  const idle = held("idle");
  const used = held("used");
  const working = held("working");
  transfers.add(idle.transfer);
  transfers.add(used.transfer);
  transfers.add(working.transfer);
  let finish = () => {};
  const gate = new Promise<void>((resolve) => {
    finish = resolve;
  });
  void working.transfer.serial.run(() => gate);
  t.mock.timers.tick(600);
  transfers.find("used", "put");
  t.mock.timers.tick(600);
  assert.equal(transfers.peek("idle"), undefined);
  assert.equal(idle.state.released, 1);
  assert.ok(transfers.peek("used"));
  assert.ok(transfers.peek("working"));
  t.mock.timers.tick(1000);
  assert.equal(transfers.peek("used"), undefined);
  assert.ok(transfers.peek("working"), "a transfer with a part under way is not expired");
  finish();
  assert.throws(() => transfers.find("idle", "put"), { code: "invalid_arguments" });
});

test("stop releases every transfer and refuses new ones", async () => {
  const transfers = new Transfers({ vm: "vm1", log, maxTransfers: 8, idleMs: 60_000 });
  const one = held("one");
  transfers.add(one.transfer);
  await transfers.stop();
  assert.equal(one.state.released, 1);
  assert.equal(transfers.size, 0);
  assert.throws(() => transfers.add(held("two").transfer), { code: "agent_unavailable" });
});

test("a Serial runs work one at a time, in order, and bounds what waits", async () => {
  const serial = new Serial();
  const order: number[] = [];
  const runs = [1, 2, 3].map((n) => serial.run(async () => void order.push(n)));
  await Promise.all(runs);
  assert.deepEqual(order, [1, 2, 3]);
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const blocked = serial.run(() => gate);
  const waiting = Array.from({ length: 8 }, () => serial.run(async () => {}));
  assert.equal(
    serial.run(async () => {}),
    undefined,
  );
  release();
  await Promise.all([blocked, ...waiting]);
});
