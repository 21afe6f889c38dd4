import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { AgentFailure, type CommandHandler, FakeAgent } from "../fakes/fake-agent.js";
import { type AgentRunner, startAgentRunner } from "../helpers/agent-runner.js";

/**
 * get-part's bytes are exactly the file's, in order, whatever the agent's reads do within the rules:
 * short reads before the end, chunks larger than a part, a file that shrinks after get-begin, a part asked
 * again; and nothing is asked past the size get-begin learnt.
 */
let dir: string;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-get-parts-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

const PART = 64 * 1024;

/** An in-memory guest; reads give at most `readAtMost` bytes (short reads, eof only at the end). */
function guest(readAtMost = Number.POSITIVE_INFINITY) {
  const files = new Map<string, Buffer>();
  const handles = new Map<number, { path: string; position: number }>();
  const reads: number[] = [];
  let next = 1;
  const open = (args: Record<string, unknown>) => {
    const handle = handles.get(Number(args.handle));
    if (!handle) throw new AgentFailure("GenericError", "handle not found");
    return handle;
  };
  const commands: Record<string, CommandHandler> = {
    "guest-file-open": (args) => {
      handles.set(next, { path: String(args.path), position: 0 });
      return next++;
    },
    "guest-file-read": (args) => {
      const handle = open(args);
      const content = files.get(handle.path) ?? Buffer.alloc(0);
      reads.push(handle.position);
      const count = Math.min(Number(args.count), readAtMost);
      const chunk = content.subarray(handle.position, handle.position + count);
      handle.position += chunk.length;
      return {
        count: chunk.length,
        "buf-b64": chunk.toString("base64"),
        eof: handle.position >= content.length,
      };
    },
    "guest-file-seek": (args) => {
      const handle = open(args);
      const length = files.get(handle.path)?.length ?? 0;
      handle.position = args.whence === "end" ? length + Number(args.offset) : Number(args.offset);
      return { position: handle.position, eof: false };
    },
    "guest-file-close": (args) => {
      handles.delete(Number(args.handle));
      return {};
    },
  };
  return { files, handles, reads, commands };
}

let sockets = 0;
async function setup(readAtMost?: number, chunkBytes = PART) {
  const fakeGuest = guest(readAtMost);
  const fake = await FakeAgent.start({
    path: path.join(dir, `agent-${++sockets}.sock`),
    commands: fakeGuest.commands,
  });
  const runner = await startAgentRunner(fake.path, {
    restrictions: { default: { files: ["/data"] } },
    limits: { transferPartBytes: PART, fileChunkBytes: chunkBytes },
  });
  cleanups.push(async () => {
    await runner.stop();
    await fake.stop();
  });
  return { guest: fakeGuest, runner };
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

const reads = (runner: AgentRunner) => runner.calls.get("guest-file-read")?.count ?? 0;

/** Every part of a get, in order, until eof: the bytes served. */
async function getAll(runner: AgentRunner, transfer: unknown, from = 0): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = from;
  for (let part = 0; part < 1000; part++) {
    const got = ok(await runner.send("get-part", { transfer, offset }));
    const data = Buffer.from(String(got.data), "base64");
    assert.equal(got.sha256, sha256(data));
    parts.push(data);
    offset += data.length;
    if (got.eof === true) return Buffer.concat(parts);
  }
  throw new Error("no eof after 1000 parts");
}

test("one read a part when parts and chunks are the same size; none past the end; the handle closed", async () => {
  const { guest: g, runner } = await setup();
  const content = randomBytes(4 * PART);
  g.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  const before = reads(runner);
  assert.ok((await getAll(runner, begin.transfer)).equals(content));
  // Four parts, four reads: nothing was asked beyond the size get-begin learnt.
  assert.equal(reads(runner) - before, 4);
  const end = ok(await runner.send("get-end", { transfer: begin.transfer }));
  assert.deepEqual([end.bytes, end.sha256], [content.length, sha256(content)]);
  assert.equal(g.handles.size, 0, "the handle is closed");
});

test("short reads while reads are asked ahead: the parts are the file's bytes, in order", async () => {
  const { guest: g, runner } = await setup(10_000, 16 * 1024);
  const content = randomBytes(5 * PART + 123);
  g.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  assert.ok((await getAll(runner, begin.transfer)).equals(content));
  const end = ok(await runner.send("get-end", { transfer: begin.transfer }));
  assert.equal(end.sha256, sha256(content));
});

test("limits.fileChunkBytes larger than a part: each part is read whole, no more", async () => {
  const { guest: g, runner } = await setup(undefined, 4 * PART);
  const content = randomBytes(9 * PART + 7);
  g.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  assert.ok((await getAll(runner, begin.transfer)).equals(content));
  assert.equal(ok(await runner.send("get-end", { transfer: begin.transfer })).sha256, sha256(content));
});

test("a part asked again (its reply lost): served again from the guest, the same bytes, and on", async () => {
  const { guest: g, runner } = await setup();
  const content = randomBytes(4 * PART);
  g.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  ok(await runner.send("get-part", { transfer: begin.transfer, offset: 0 }));
  const second = ok(await runner.send("get-part", { transfer: begin.transfer, offset: PART }));
  const again = ok(await runner.send("get-part", { transfer: begin.transfer, offset: PART }));
  assert.deepEqual(again, second);
  const rest = await getAll(runner, begin.transfer, 2 * PART);
  assert.ok(rest.equals(content.subarray(2 * PART)));
  assert.equal(ok(await runner.send("get-end", { transfer: begin.transfer })).sha256, sha256(content));
});

test("a file that shrinks after get-begin ends at the agent's eof, once, with the bytes it had", async () => {
  const { guest: g, runner } = await setup();
  const content = randomBytes(6 * PART);
  g.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  assert.equal(begin.size, content.length);
  const kept = content.subarray(0, 2 * PART + 500);
  g.files.set("/data/file.bin", kept);
  assert.ok((await getAll(runner, begin.transfer)).equals(kept));
  const end = ok(await runner.send("get-end", { transfer: begin.transfer }));
  assert.deepEqual([end.bytes, end.sha256], [kept.length, sha256(kept)]);
});
