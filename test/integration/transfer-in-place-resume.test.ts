import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { sqliteDriver } from "../../src/state/sqlite-driver.js";
import { SqliteJournal } from "../../src/state/sqlite-journal.js";
import { type AgentRunner, startAgentRunner } from "../helpers/agent-runner.js";
import { type RealAgent, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * An in-place put (`atomic: false`) interrupted by a worker restart, against the real qemu-ga (writing to
 * a folder of this machine): the worker's state folder records what it acknowledged and the sha256 of
 * those bytes, and the next put-begin goes on from there only while the guest's file still hashes to the
 * record. A file the worker has no record of, or one changed since, is written from the start: an older
 * file at the path is never taken for ours.
 */
const skip = skipWithout("qemu-ga");
let real: RealAgent;
let files: string;
let stateDir: string;
const runners: AgentRunner[] = [];
const journals: SqliteJournal[] = [];

before(async () => {
  if (skip) return;
  real = await startRealAgent({ allow: ["guest-file-open"] });
  files = path.join(real.dir, "files");
  await mkdir(files);
  stateDir = await mkdtemp(path.join(os.tmpdir(), "qga-in-place-state-"));
});

after(async () => {
  for (const runner of runners) await runner.stop();
  for (const journal of journals) journal.close();
  await real?.dispose();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

const PART = 256 * 1024;

/**
 * A worker (started again): its runner on the agent, and, with `state`, the journal database in the state
 * folder as the worker opens it. The agent serves one client, so the previous runner is stopped first.
 */
async function worker(state = true): Promise<{ runner: AgentRunner; journal: SqliteJournal | undefined }> {
  for (const old of runners.splice(0)) await old.stop();
  for (const old of journals.splice(0)) old.close();
  const journal = state
    ? new SqliteJournal({
        open: (await sqliteDriver()).open,
        dir: stateDir,
        worker: "in-place-test",
        windowMs: 600_000,
        maxBytes: 1 << 20,
      })
    : undefined;
  if (journal) journals.push(journal);
  const runner = await startAgentRunner(
    real.socket,
    { restrictions: { default: { files: [files] } }, limits: { transferPartBytes: PART } },
    { ledger: journal?.puts },
  );
  runners.push(runner);
  return { runner, journal };
}

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const written = (r: AgentRunner) => r.calls.get("guest-file-write")?.bytes ?? 0;

async function putParts(r: AgentRunner, bytes: Buffer, transfer: unknown, from: number, to = bytes.length) {
  let received = from;
  for (let guard = 0; received < to; guard++) {
    assert.ok(guard < 1000);
    const data = bytes.subarray(received, received + PART);
    const args = { transfer, offset: received, data: data.toString("base64"), sha256: sha256(data) };
    received = ok(await r.send("put-part", args)).received as number;
  }
  return received;
}

function declared(name: string, bytes: Buffer) {
  return { path: path.join(files, name), size: bytes.length, sha256: sha256(bytes), atomic: false };
}

test("after a worker restart an in-place put goes on from the bytes it acknowledged, none written twice", {
  skip,
}, async () => {
  const bytes = randomBytes(6 * PART + 777);
  const put = declared("resumed.bin", bytes);
  const first = await worker();
  const begin = ok(await first.runner.send("put-begin", put));
  assert.equal(begin.received, 0);
  await putParts(first.runner, bytes, begin.transfer, 0, 3 * PART);

  const second = await worker();
  const resumed = ok(await second.runner.send("put-begin", put));
  assert.equal(resumed.transfer, begin.transfer);
  assert.equal(resumed.received, 3 * PART);
  await putParts(second.runner, bytes, resumed.transfer, 3 * PART);
  assert.equal(written(second.runner), bytes.length - 3 * PART, "only the rest was written");
  assert.equal(ok(await second.runner.send("put-end", { transfer: resumed.transfer })).sha256, sha256(bytes));
  assert.equal(sha256(await readFile(put.path)), sha256(bytes));
  assert.equal(second.journal?.puts.recall(String(begin.transfer)), undefined, "ended: the record is gone");
});

test("an older file at the path, even one that begins with the same bytes, is written from the start", {
  skip,
}, async () => {
  const bytes = randomBytes(4 * PART);
  const put = declared("older.bin", bytes);
  // Somebody else's copy that stopped half way: the worker has no record of it.
  await writeFile(put.path, bytes.subarray(0, 2 * PART));
  const { runner } = await worker();
  const begin = ok(await runner.send("put-begin", put));
  assert.equal(begin.received, 0);
  await putParts(runner, bytes, begin.transfer, 0);
  ok(await runner.send("put-end", { transfer: begin.transfer }));
  assert.equal(written(runner), bytes.length);
  assert.equal(sha256(await readFile(put.path)), sha256(bytes));
});

test("a file changed in the guest after the restart does not hash to the record: written from the start", {
  skip,
}, async () => {
  const bytes = randomBytes(5 * PART);
  const put = declared("changed.bin", bytes);
  const first = await worker();
  const begin = ok(await first.runner.send("put-begin", put));
  await putParts(first.runner, bytes, begin.transfer, 0, 2 * PART);
  const second = await worker();
  // One byte of the acknowledged part changed in the guest meanwhile.
  const file = await open(put.path, "r+");
  await file.write(Buffer.from([bytes[1000]! ^ 0xff]), 0, 1, 1000);
  await file.close();
  const resumed = ok(await second.runner.send("put-begin", put));
  assert.equal(resumed.received, 0);
  await putParts(second.runner, bytes, resumed.transfer, 0);
  assert.equal(ok(await second.runner.send("put-end", { transfer: resumed.transfer })).sha256, sha256(bytes));
  assert.equal(sha256(await readFile(put.path)), sha256(bytes));
});

test("without a state folder, and after transfer-abort, an in-place put starts over", { skip }, async () => {
  const bytes = randomBytes(3 * PART);
  const put = declared("unrecorded.bin", bytes);
  const first = await worker(false);
  const begin = ok(await first.runner.send("put-begin", put));
  await putParts(first.runner, bytes, begin.transfer, 0, PART);
  const second = await worker(false);
  assert.equal(ok(await second.runner.send("put-begin", put)).received, 0);

  const third = await worker();
  const again = ok(await third.runner.send("put-begin", put));
  await putParts(third.runner, bytes, again.transfer, 0, 2 * PART);
  assert.deepEqual(ok(await third.runner.send("transfer-abort", { transfer: again.transfer })), {
    aborted: true,
  });
  assert.equal(third.journal?.puts.recall(String(again.transfer)), undefined);
  const fourth = await worker();
  assert.equal(ok(await fourth.runner.send("put-begin", put)).received, 0);
});
