import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { type AgentRunner, startAgentRunner } from "../helpers/agent-runner.js";
import { type RealAgent, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * The transfer verbs (put-begin … put-end, get-begin … get-end, transfer-abort) through the CommandRunner
 * and the real guest-agent client against the real qemu-ga, which writes to this machine's filesystem:
 * guest-file-open is confined by restrictions.files to a temporary folder, guest-exec to mv/chmod/rm.
 */
const skip = skipWithout("qemu-ga");
let real: RealAgent;
let files: string;
const runners: AgentRunner[] = [];

before(async () => {
  if (skip) return;
  real = await startRealAgent({ allow: ["guest-file-open", "guest-exec"] });
  files = path.join(real.dir, "files");
  await mkdir(files);
});

after(async () => {
  for (const runner of runners) await runner.stop();
  await real?.dispose();
});

const PART = 256 * 1024;

/** One runner at a time: the agent serves one client, so the previous one is stopped first. */
async function runner(config: Record<string, unknown> = {}): Promise<AgentRunner> {
  for (const old of runners.splice(0)) await old.stop();
  const started = await startAgentRunner(real.socket, {
    restrictions: { default: { files: [files], exec: ["/bin/mv", "/bin/chmod", "/bin/rm"] } },
    limits: { transferPartBytes: PART },
    ...config,
  });
  runners.push(started);
  return started;
}

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

function failed(reply: Reply, code: string): Record<string, unknown> {
  assert.equal(reply.ok, false, JSON.stringify(reply.result));
  const error = reply.error as unknown as Record<string, unknown>;
  assert.equal(error.code, code, JSON.stringify(error));
  return error;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const writes = (r: AgentRunner) => r.calls.get("guest-file-write") ?? { count: 0, bytes: 0 };

function part(bytes: Buffer, transfer: unknown, offset: number, partBytes = PART) {
  const data = bytes.subarray(offset, offset + partBytes);
  return { transfer, offset, data: data.toString("base64"), sha256: sha256(data) };
}

async function putParts(r: AgentRunner, bytes: Buffer, transfer: unknown, from: number, to = bytes.length) {
  let received = from;
  for (let guard = 0; received < to; guard++) {
    assert.ok(guard < 1000);
    received = ok(await r.send("put-part", part(bytes, transfer, received))).received as number;
  }
  return received;
}

test("put: a 5.3 MiB random file in parts, renamed into place, same sha256 as the host's copy", {
  skip,
}, async () => {
  const r = await runner();
  const bytes = randomBytes(5.3 * 1024 * 1024);
  const target = path.join(files, "put.bin");
  const begin = ok(
    await r.send("put-begin", { path: target, size: bytes.length, sha256: sha256(bytes), mode: "0640" }),
  );
  assert.equal(begin.received, 0);
  assert.equal(begin.part_bytes, PART);
  assert.match(String(begin.temp), new RegExp(`^${files}/\\.put\\.bin\\.${begin.transfer}\\.qga-part$`));
  assert.equal(await putParts(r, bytes, begin.transfer, 0), bytes.length);
  const end = ok(await r.send("put-end", { transfer: begin.transfer }));
  assert.deepEqual(end, { path: target, bytes: bytes.length, sha256: sha256(bytes) });
  assert.equal(sha256(await readFile(target)), sha256(bytes));
  assert.equal((await stat(target)).mode & 0o777, 0o640);
  assert.deepEqual(
    (await readdir(files)).filter((name) => name.endsWith(".qga-part")),
    [],
  );
  assert.equal(writes(r).bytes, bytes.length);
  assert.deepEqual(r.events.at(-1), {
    event: "transfer",
    transfer: begin.transfer,
    direction: "put",
    path: target,
    bytes: bytes.length,
    size: bytes.length,
    done: true,
  });
  assert.equal(r.transfers.size, 0);
  // The transfer is gone: a part or an end for it is refused.
  failed(await r.send("put-end", { transfer: begin.transfer }), "invalid_arguments");
});

test("get: a 3.1 MiB file in parts, the whole file's sha256, a retried part served again", {
  skip,
}, async () => {
  const r = await runner();
  const bytes = randomBytes(3.1 * 1024 * 1024);
  const source = path.join(files, "get.bin");
  await writeFile(source, bytes);
  const begin = ok(await r.send("get-begin", { path: source }));
  assert.equal(begin.size, bytes.length);
  assert.equal(begin.part_bytes, PART);
  const parts: Buffer[] = [];
  let offset = 0;
  let eof = false;
  for (let guard = 0; !eof; guard++) {
    assert.ok(guard < 100);
    const got = ok(await r.send("get-part", { transfer: begin.transfer, offset }));
    const data = Buffer.from(String(got.data), "base64");
    assert.equal(got.offset, offset);
    assert.equal(got.sha256, sha256(data));
    assert.ok(data.length <= PART);
    if (offset === PART) {
      // The reply was "lost": the same part again, same bytes, and the running sha256 is not disturbed.
      const again = ok(await r.send("get-part", { transfer: begin.transfer, offset }));
      assert.equal(again.sha256, got.sha256);
    }
    parts.push(data);
    offset += data.length;
    eof = got.eof as boolean;
  }
  const whole = Buffer.concat(parts);
  assert.equal(sha256(whole), sha256(bytes));
  const skipped = await r.send("get-part", { transfer: begin.transfer, offset: offset + PART });
  assert.equal(failed(skipped, "invalid_arguments").offset, bytes.length);
  assert.deepEqual(ok(await r.send("get-end", { transfer: begin.transfer })), {
    bytes: bytes.length,
    sha256: sha256(bytes),
  });
  // Starting at a part boundary: [0, offset) is read to rebuild the running sha256.
  const resumed = ok(await r.send("get-begin", { path: source, offset: 2 * PART }));
  assert.equal(resumed.offset, 2 * PART);
  let at = 2 * PART;
  for (let guard = 0; at < bytes.length; guard++) {
    assert.ok(guard < 100);
    at += Buffer.from(
      String(ok(await r.send("get-part", { transfer: resumed.transfer, offset: at })).data),
      "base64",
    ).length;
  }
  assert.equal(ok(await r.send("get-end", { transfer: resumed.transfer })).sha256, sha256(bytes));
});

test("resume: a put interrupted after some parts goes on from received; no part is written twice", {
  skip,
}, async () => {
  const r = await runner();
  const bytes = randomBytes(7 * PART + 1000);
  const target = path.join(files, "resume.bin");
  const declared = { path: target, size: bytes.length, sha256: sha256(bytes) };
  const begin = ok(await r.send("put-begin", declared));
  await putParts(r, bytes, begin.transfer, 0, 3 * PART);
  // The client went away and comes back: the same file gets the same transfer, held with its progress.
  const again = ok(await r.send("put-begin", declared));
  assert.equal(again.transfer, begin.transfer);
  assert.equal(again.received, 3 * PART);
  // A part acknowledged before, sent again: answered, not written.
  const before = writes(r).bytes;
  assert.deepEqual(ok(await r.send("put-part", part(bytes, begin.transfer, PART))), { received: 3 * PART });
  assert.equal(writes(r).bytes, before);
  await putParts(r, bytes, begin.transfer, 3 * PART);
  ok(await r.send("put-end", { transfer: begin.transfer }));
  assert.equal(writes(r).bytes, bytes.length);
  assert.equal(sha256(await readFile(target)), sha256(bytes));
});

test("resume after a worker restart: put-begin reads the temporary file back to rebuild the sha256", {
  skip,
}, async () => {
  const bytes = randomBytes(6 * PART + 12345);
  const target = path.join(files, "restart.bin");
  const declared = { path: target, size: bytes.length, sha256: sha256(bytes) };
  const first = await runner();
  const begin = ok(await first.send("put-begin", declared));
  await putParts(first, bytes, begin.transfer, 0, 4 * PART);
  const second = await runner();
  const resumed = ok(await second.send("put-begin", declared));
  assert.equal(resumed.transfer, begin.transfer);
  assert.equal(resumed.received, 4 * PART);
  assert.ok((second.calls.get("guest-file-read")?.count ?? 0) > 0);
  await putParts(second, bytes, resumed.transfer, 4 * PART);
  assert.equal(writes(second).bytes, bytes.length - 4 * PART);
  assert.equal(ok(await second.send("put-end", { transfer: resumed.transfer })).sha256, sha256(bytes));
  assert.equal(sha256(await readFile(target)), sha256(bytes));
});

test("a temporary file that does not hash right is started over; abort removes it", { skip }, async () => {
  const r = await runner();
  const bytes = randomBytes(2 * PART);
  const target = path.join(files, "damaged.bin");
  const declared = { path: target, size: bytes.length, sha256: sha256(bytes) };
  const begin = ok(await r.send("put-begin", declared));
  await putParts(r, bytes, begin.transfer, 0);
  await r.stop();
  // Damaged behind the worker's back while it was away.
  const temp = String(begin.temp);
  const damaged = Buffer.from(bytes);
  damaged[10] = damaged[10]! ^ 1;
  await writeFile(temp, damaged);
  const r2 = await runner();
  assert.equal(ok(await r2.send("put-begin", declared)).received, 0);
  await putParts(r2, bytes, begin.transfer, 0, PART);
  assert.deepEqual(ok(await r2.send("transfer-abort", { transfer: begin.transfer })), { aborted: true });
  await assert.rejects(stat(temp), { code: "ENOENT" });
  failed(await r2.send("put-part", part(bytes, begin.transfer, PART)), "invalid_arguments");
});

test("a part with a bad sha256 or the wrong offset is refused with details.received; nothing is written", {
  skip,
}, async () => {
  const r = await runner();
  const bytes = randomBytes(3 * PART);
  const begin = ok(
    await r.send("put-begin", {
      path: path.join(files, "bad.bin"),
      size: bytes.length,
      sha256: sha256(bytes),
    }),
  );
  await putParts(r, bytes, begin.transfer, 0, PART);
  const written = writes(r).bytes;
  const damaged = { ...part(bytes, begin.transfer, PART), sha256: sha256(Buffer.from("other")) };
  const bad = failed(await r.send("put-part", damaged), "invalid_arguments");
  assert.equal(bad.received, PART);
  assert.match(String(bad.message), /damaged in transit/);
  const ahead = failed(await r.send("put-part", part(bytes, begin.transfer, 2 * PART)), "invalid_arguments");
  assert.equal(ahead.received, PART);
  assert.equal(writes(r).bytes, written);
  const early = failed(await r.send("put-end", { transfer: begin.transfer }), "invalid_arguments");
  assert.equal(early.received, PART);
  ok(await r.send("transfer-abort", { transfer: begin.transfer }));
});

test("paths outside restrictions.files are forbidden for put-begin and get-begin", { skip }, async () => {
  const r = await runner();
  const outside = path.join(files, "..", "qemu-ga.pid");
  failed(
    await r.send("put-begin", { path: outside, size: 1, sha256: sha256(Buffer.from("x")) }),
    "forbidden",
  );
  failed(await r.send("get-begin", { path: outside }), "forbidden");
  failed(await r.send("get-begin", { path: "/etc/passwd" }), "forbidden");
  assert.equal(r.calls.get("guest-file-open"), undefined);
});

test("without /bin/mv in restrictions.exec an atomic put is unsupported; atomic: false writes in place", {
  skip,
}, async () => {
  const r = await runner({ restrictions: { default: { files: [files], exec: ["/bin/true"] } } });
  const bytes = randomBytes(PART + 7);
  const target = path.join(files, "in-place.bin");
  const declared = { path: target, size: bytes.length, sha256: sha256(bytes) };
  const refused = failed(await r.send("put-begin", declared), "unsupported");
  assert.match(String(refused.message), /"atomic": false/);
  failed(await r.send("put-begin", { ...declared, atomic: false, mode: "0600" }), "unsupported");
  const begin = ok(await r.send("put-begin", { ...declared, atomic: false }));
  assert.equal(begin.temp, target);
  await putParts(r, bytes, begin.transfer, 0);
  ok(await r.send("put-end", { transfer: begin.transfer }));
  assert.equal(sha256(await readFile(target)), sha256(bytes));
  assert.equal(r.calls.get("guest-exec"), undefined);
});

test("write-file of 4 MiB in one request passes with the default limits", { skip }, async () => {
  const r = await runner({ restrictions: { default: { files: [files] } }, limits: {} });
  const bytes = randomBytes(4 * 1024 * 1024);
  const target = path.join(files, "write4.bin");
  const wrote = ok(
    await r.send("write-file", { path: target, content: bytes.toString("base64"), encoding: "base64" }),
  );
  assert.equal(wrote.sha256, sha256(bytes));
  assert.equal(sha256(await readFile(target)), sha256(bytes));
});

test("write-file over limits.fileBytes is refused naming qga-mqtt cp and the transfer verbs", {
  skip,
}, async () => {
  const r = await runner({ restrictions: { default: { files: [files] } }, limits: {} });
  const target = path.join(files, "too-big.bin");
  // Just over: the payload fits, the verb refuses.
  const over = randomBytes(8 * 1024 * 1024 + 1).toString("base64");
  const verb = failed(
    await r.send("write-file", { path: target, content: over, encoding: "base64" }),
    "invalid_arguments",
  );
  assert.match(String(verb.message), /qga-mqtt cp/);
  assert.match(String(verb.message), /put-begin/);
  // Far over: the payload itself is refused, with the same advice.
  const far = randomBytes(9 * 1024 * 1024).toString("base64");
  const payload = failed(
    await r.send("write-file", { path: target, content: far, encoding: "base64" }),
    "invalid_payload",
  );
  assert.match(String(payload.message), /qga-mqtt cp/);
  assert.equal(r.calls.get("guest-file-open"), undefined);
});
