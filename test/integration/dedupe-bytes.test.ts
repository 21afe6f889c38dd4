import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { startVerbRunner, type VerbRunner } from "../helpers/verb-runner.js";

/**
 * The dedupe window is bounded in bytes (issue 18, hole 3): before, 80 read-file of an 8 MiB file with new
 * ids took the worker from 79 to 886 MB, every reply kept for ten minutes. A reply too large to keep is
 * let go; a repeat of its id is answered `duplicate` and never runs again.
 */
let dir: string;
let runner: VerbRunner;
const FILE = 2 * 1024 * 1024;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-dedupe-"));
  runner = await startVerbRunner(dir, {
    limits: { fileBytes: FILE, fileChunkBytes: 1024 * 1024, maxPayloadBytes: 4 * FILE },
  });
  runner.guest.files.set("/data/big.bin", Buffer.alloc(FILE, 0xab));
});

after(async () => {
  await runner?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a repeat of an id whose reply was too large to keep gets `duplicate` and does not run again", async () => {
  const first = await runner.send("read-file", { path: "/data/big.bin" }, { id: "big-1" });
  assert.equal(first.ok, true, JSON.stringify(first.error));
  const opens = runner.seen("guest-file-open").length;
  const again = await runner.send("read-file", { path: "/data/big.bin" }, { id: "big-1" });
  assert.equal(again.ok, false);
  assert.equal(again.error?.code, "duplicate");
  assert.equal(again.id, "big-1");
  assert.match(again.error?.message ?? "", /already ran.*outcome: ok.*new id/);
  assert.equal(runner.seen("guest-file-open").length, opens, "the file was read a second time");
});

test("a small reply is still sent again whole", async () => {
  const first = await runner.send("guest-get-host-name", {}, { id: "small-1" });
  const again = await runner.send("guest-get-host-name", {}, { id: "small-1" });
  assert.deepEqual(again, first);
});

test("many large replies with new ids do not pile up in memory", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  // Large base64 strings are external to V8's heap (node makes them so past ~1 MB): both count.
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().external;
  const before = used();
  for (let i = 0; i < 40; i++) {
    const reply = await runner.send("read-file", { path: "/data/big.bin" });
    assert.equal(reply.ok, true);
  }
  gc();
  const grown = used() - before;
  // 40 replies of ~2.8 MB of base64 each: ~110 MB when kept; the stand-ins are a few hundred bytes each.
  assert.ok(grown < 30 * 1024 * 1024, `the heap grew by ${Math.round(grown / 1048576)} MiB`);
});
