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
 * The transfer verbs against an agent that lies about files: short writes reported, sizes larger than
 * declared, reads that never end or give more than asked. Each must end in an error (never success),
 * after a bounded number of agent calls, holding no more than a part.
 */
let dir: string;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-transfer-hostile-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

interface Lies {
  /** guest-file-write reports this many bytes fewer than it wrote. */
  writeShortBy?: number;
  /** guest-file-seek whence end reports this position. */
  endAt?: number;
  /** guest-file-read gives nothing and no eof. */
  readNothing?: boolean;
  /** guest-file-read gives this many bytes more than asked. */
  readExtra?: number;
}

/** An in-memory guest filesystem whose agent tells the lies asked for. */
function lyingGuest(lies: Lies) {
  const files = new Map<string, Buffer>();
  const handles = new Map<number, { path: string; position: number }>();
  let next = 1000;
  const file = (args: Record<string, unknown>) => {
    const open = handles.get(Number(args.handle));
    if (!open) throw new AgentFailure("GenericError", "handle not found");
    return open;
  };
  const commands: Record<string, CommandHandler> = {
    "guest-file-open": (args) => {
      const at = String(args.path);
      const mode = String(args.mode);
      if (mode.startsWith("w") || !files.has(at)) files.set(at, Buffer.alloc(0));
      handles.set(next, { path: at, position: mode.startsWith("a") ? files.get(at)!.length : 0 });
      return next++;
    },
    "guest-file-write": (args) => {
      const open = file(args);
      const bytes = Buffer.from(String(args["buf-b64"]), "base64");
      files.set(open.path, Buffer.concat([files.get(open.path)!.subarray(0, open.position), bytes]));
      open.position += bytes.length;
      return { count: bytes.length - (lies.writeShortBy ?? 0), eof: false };
    },
    "guest-file-read": (args) => {
      const open = file(args);
      const count = Number(args.count);
      if (lies.readNothing) return { count: 0, "buf-b64": "", eof: false };
      const content = files.get(open.path)!;
      const chunk = Buffer.concat([
        content.subarray(open.position, open.position + count),
        randomBytes(lies.readExtra ?? 0),
      ]);
      open.position += count;
      return {
        count: chunk.length,
        "buf-b64": chunk.toString("base64"),
        eof: open.position >= content.length,
      };
    },
    "guest-file-seek": (args) => {
      const open = file(args);
      const length = files.get(open.path)!.length;
      if (args.whence === "end") open.position = lies.endAt ?? length;
      else open.position = Number(args.offset);
      return { position: open.position, eof: false };
    },
    "guest-file-flush": () => ({}),
    "guest-file-close": (args) => {
      handles.delete(Number(args.handle));
      return {};
    },
  };
  return { files, commands };
}

let sockets = 0;
async function setup(lies: Lies, partBytes = 64 * 1024) {
  const guest = lyingGuest(lies);
  const fake = await FakeAgent.start({
    path: path.join(dir, `agent-${++sockets}.sock`),
    commands: guest.commands,
  });
  const runner = await startAgentRunner(fake.path, {
    restrictions: { default: { files: ["/data"], exec: ["/bin/mv"] } },
    limits: { transferPartBytes: partBytes, fileChunkBytes: 16 * 1024 },
  });
  cleanups.push(async () => {
    await runner.stop();
    await fake.stop();
  });
  return { guest, fake, runner };
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

function failed(reply: Reply, code: string): Record<string, unknown> {
  assert.equal(reply.ok, false, JSON.stringify(reply.result));
  const error = reply.error as unknown as Record<string, unknown>;
  assert.equal(error.code, code, JSON.stringify(error));
  return error;
}

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

const calls = (runner: AgentRunner, command: string) => runner.calls.get(command)?.count ?? 0;

test("a write the agent reports short fails the part, forgets the transfer and never ends well", async () => {
  const { runner } = await setup({ writeShortBy: 10 });
  const bytes = randomBytes(40_000);
  const declared = { path: "/data/short.bin", size: bytes.length, sha256: sha256(bytes), atomic: false };
  const begin = ok(await runner.send("put-begin", declared));
  const part = { transfer: begin.transfer, offset: 0, data: bytes.toString("base64"), sha256: sha256(bytes) };
  const error = failed(await runner.send("put-part", part), "agent_error");
  assert.match(String(error.message), /wrote \d+ of \d+ bytes/);
  assert.equal(error.received, 16 * 1024 - 10);
  assert.equal(calls(runner, "guest-file-write"), 1);
  failed(await runner.send("put-end", { transfer: begin.transfer }), "invalid_arguments");
  assert.equal(runner.transfers.size, 0);
  assert.equal(calls(runner, "guest-file-close"), 1);
});

test("a temporary file the agent says is larger than declared is started over, not trusted", async () => {
  const { runner, guest } = await setup({ endAt: 2 ** 40 });
  const bytes = randomBytes(1000);
  const begin = ok(
    await runner.send("put-begin", { path: "/data/big.bin", size: bytes.length, sha256: sha256(bytes) }),
  );
  assert.equal(begin.received, 0);
  // Opened again to empty it, and nothing read back on the agent's word.
  assert.equal(calls(runner, "guest-file-read"), 0);
  assert.equal(guest.files.get(String(begin.temp))?.length, 0);
  // A get of a file the agent says is 1 TiB, over limits.transferBytes (64 GiB): refused, handle closed.
  guest.files.set("/data/small.bin", randomBytes(10));
  const get = failed(await runner.send("get-begin", { path: "/data/small.bin" }), "invalid_arguments");
  assert.match(String(get.message), /limits\.transferBytes/);
  assert.equal(calls(runner, "guest-file-open"), calls(runner, "guest-file-close") + 1);
});

test("a read that gives no bytes and no eof is an error after one call, for get-part and a resumed put", async () => {
  const { runner, guest } = await setup({ readNothing: true });
  guest.files.set("/data/pipe", randomBytes(100_000));
  const begin = ok(await runner.send("get-begin", { path: "/data/pipe" }));
  const error = failed(await runner.send("get-part", { transfer: begin.transfer, offset: 0 }), "agent_error");
  assert.match(String(error.message), /no bytes and no end of file/);
  assert.equal(calls(runner, "guest-file-read"), 1);
  // A put whose temporary file exists: reading it back meets the same silence.
  const bytes = randomBytes(200_000);
  const declared = { path: "/data/resume.bin", size: bytes.length, sha256: sha256(bytes) };
  const id = createHash("sha256")
    .update(`vm1\0/data/resume.bin\0${bytes.length}\0${sha256(bytes)}`)
    .digest("hex")
    .slice(0, 16);
  guest.files.set(`/data/.resume.bin.${id}.qga-part`, bytes.subarray(0, 50_000));
  failed(await runner.send("put-begin", declared), "agent_error");
  assert.equal(calls(runner, "guest-file-read"), 2);
  assert.equal(calls(runner, "guest-file-open"), calls(runner, "guest-file-close") + 1);
});

test("a read that gives more bytes than asked is an error, not a longer part", async () => {
  const { runner, guest } = await setup({ readExtra: 5 });
  const content = randomBytes(300_000);
  guest.files.set("/data/file.bin", content);
  const begin = ok(await runner.send("get-begin", { path: "/data/file.bin" }));
  assert.equal(begin.size, content.length);
  const error = failed(await runner.send("get-part", { transfer: begin.transfer, offset: 0 }), "agent_error");
  assert.match(String(error.message), /asked for 16384 bytes and answered 16389/);
  assert.equal(calls(runner, "guest-file-read"), 1);
  // The get is still held and the same part can be asked again: again an error, never data.
  failed(await runner.send("get-part", { transfer: begin.transfer, offset: 0 }), "agent_error");
  assert.equal(ok(await runner.send("get-end", { transfer: begin.transfer })).bytes, 0);
});
