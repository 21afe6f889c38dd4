import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { AgentFailure, type FakeAgent, type FakeRequest } from "../fakes/fake-agent.js";
import { startVerbRunner } from "../helpers/verb-runner.js";

/**
 * exec, exec-status, read-file and write-file through the CommandRunner and the real guest-agent client,
 * against the fake agent: for what a real guest cannot be made to do on demand (a read that fails half
 * way, an agent that hangs, a full disk) and for what only a fake can record (each request it got).
 */
let dir: string;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-verbs-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

const CHUNK = 4096;
const SECRET = "s3cret-c0ntent";

async function setup() {
  const runner = await startVerbRunner(dir, {
    restrictions: { default: { exec: ["/bin/*", "/usr/bin/**"], env: ["LANG"], files: ["/data", "/tmp/"] } },
    limits: { fileChunkBytes: CHUNK, fileBytes: 64 * 1024, execOutputBytes: 1024, stdinBytes: 2048 },
  });
  cleanups.push(() => runner.stop());
  return runner;
}

function result(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

/** The handle of the first or last request of that command the fake got. */
function handleOf(fake: FakeAgent, command: string, which: "first" | "last" = "last"): number {
  const requests = fake.requests.filter((r) => r.execute === command);
  const request = which === "first" ? requests[0] : requests.at(-1);
  assert.ok(request, `no ${command} request`);
  return (request.arguments as { handle: number }).handle;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const closed = (handle: unknown) => (r: FakeRequest) =>
  r.execute === "guest-file-close" && (r.arguments as { handle?: unknown }).handle === handle;

test("exec sends the normalised program with args, env and stdin, and polls until it exits", async () => {
  const { guest, send, seen } = await setup();
  guest.program = (started) => ({ runMs: 150, exitcode: 3, out: started.stdin, err: "err\n" });
  const reply = await send("exec", {
    path: "/usr/bin/../../bin//cat",
    args: ["-"],
    env: ["LANG=C.UTF-8"],
    stdin: "héllo\n",
  });
  const r = result(reply);
  assert.deepEqual(guest.started[0], {
    path: "/bin/cat",
    args: ["-"],
    env: ["LANG=C.UTF-8"],
    stdin: Buffer.from("héllo\n"),
    capture: true,
  });
  assert.equal(r.exit_code, 3);
  assert.equal(r.exited, true);
  assert.equal(r.stdout, "héllo\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(r.stdout_encoding, "utf8");
  assert.equal(r.stdout_truncated, false);
  assert.ok((r.ms as number) >= 150);
  // A backoff from ~5 ms doubling: a handful of polls for 150 ms, not one per millisecond nor one per second.
  const polls = seen("guest-exec-status").length;
  assert.ok(polls >= 2 && polls <= 8, `${polls} polls`);
});

test("a signal, base64 stdin, no capture, and binary or over-long output", async () => {
  const { guest, send } = await setup();
  guest.program = () => ({ signal: 9 });
  const killed = result(await send("exec", { path: "/bin/sh", args: ["-c", "kill -9 $$"] }));
  assert.equal(killed.signal, 9);
  assert.equal(killed.exit_code, undefined);

  guest.program = (started) => ({ out: started.stdin, err: "x".repeat(3000), errTruncated: false });
  const binary = result(await send("exec", { path: "/bin/cat", stdin: "//4=", stdin_encoding: "base64" }));
  assert.equal(binary.stdout, "//4=");
  assert.equal(binary.stdout_encoding, "base64");
  assert.equal(binary.stderr, "x".repeat(1024));
  assert.equal(binary.stderr_truncated, true);

  guest.program = () => ({ out: "partial", outTruncated: true });
  const cut = result(await send("exec", { path: "/bin/cat" }));
  assert.equal(cut.stdout_truncated, true);
  assert.equal(cut.stdout, "partial");

  const quiet = result(await send("exec", { path: "/bin/true", capture: false }));
  assert.equal(guest.started.at(-1)?.capture, undefined);
  assert.equal(quiet.stdout, "");
});

test("on the deadline: timeout with the pid; exec-status answers running, then the kept result", async () => {
  const { guest, send, seen } = await setup();
  guest.program = () => ({ runMs: 3_600_000, exitcode: 0, out: "done\n" });
  const timedOut = await send("exec", { path: "/bin/sleep" }, { timeout: 0.2 });
  assert.equal(timedOut.error?.code, "timeout");
  const pid = timedOut.error?.pid;
  assert.equal(typeof pid, "number");
  assert.equal(timedOut.error?.running, true);
  assert.match(timedOut.error?.message ?? "", /still running.*exec-status/);
  const running = result(await send("exec-status", { pid }));
  assert.deepEqual({ ...running, ms: 0 }, { pid, exited: false, ms: 0 });
  guest.exit(pid as number);
  const done = result(await send("exec-status", { pid }));
  assert.equal(done.exited, true);
  assert.equal(done.stdout, "done\n");
  // Reaped by the first status: asking again is answered by the worker, not the agent.
  const reaped = seen("guest-exec-status").length;
  assert.deepEqual(result(await send("exec-status", { pid })), done);
  assert.equal(seen("guest-exec-status").length, reaped);
});

test("a status that reaps the process after the deadline is kept for exec-status", async () => {
  const { guest, fake, send, seen } = await setup();
  guest.program = () => ({ exitcode: 0, out: "late\n" });
  fake.fault("guest-exec-status", { kind: "delay", ms: 500 });
  const timedOut = await send("exec", { path: "/bin/echo" }, { timeout: 0.2 });
  assert.equal(timedOut.error?.code, "timeout");
  // The agent answers in order: once a later request is answered, the delayed status reply has been
  // handled (and its result kept), so the exec-status below cannot just join the status still in flight.
  result(await send("guest-ping", {}));
  const r = result(await send("exec-status", { pid: timedOut.error?.pid }));
  assert.equal(r.stdout, "late\n");
  assert.equal(seen("guest-exec-status").length, 1);
  // Under an exec restriction, a pid this worker did not start is not asked about at all.
  assert.equal((await send("exec-status", { pid: 1 })).error?.code, "forbidden");
  const unrestricted = await startVerbRunner(dir, {});
  cleanups.push(() => unrestricted.stop());
  const unknown = await unrestricted.send("exec-status", { pid: 1 });
  assert.equal(unknown.error?.code, "agent_error");
  assert.match(unknown.error?.message ?? "", /knows no process with pid 1/);
});

test("forbidden programs and paths never reach the agent", async () => {
  const { send, seen } = await setup();
  const cases: Array<[string, Record<string, unknown>]> = [
    ["exec", { path: "/usr/bin/../../sbin/reboot" }],
    ["exec", { path: "sh" }],
    ["exec", { path: "/sbin/halt" }],
    ["read-file", { path: "/tmp/../etc/shadow" }],
    ["read-file", { path: "//etc//passwd" }],
    ["read-file", { path: "data/x" }],
    ["write-file", { path: "/datax/y", content: "x" }],
    ["write-file", { path: "/data/../../etc/cron.d/x", content: "x" }],
  ];
  for (const [command, args] of cases) {
    const reply = await send(command, args);
    assert.equal(reply.error?.code, "forbidden", `${command} ${JSON.stringify(args)}`);
  }
  assert.equal(seen("guest-exec").length + seen("guest-file-open").length, 0);
});

test("invalid arguments are refused before the guest, and never quote stdin or content", async () => {
  const { send, seen } = await setup();
  const cases: Array<[string, Record<string, unknown>]> = [
    ["exec", { path: 7 }],
    ["exec", { path: "/bin/sh", shell: true }],
    ["exec", { path: "/bin/sh", env: ["NOEQUALS"] }],
    ["exec", { path: "/bin/cat", stdin: "x".repeat(2049) }],
    ["exec", { path: "/bin/cat", stdin: `${SECRET}!`, stdin_encoding: "base64" }],
    ["exec-status", { pid: "one" }],
    ["read-file", { path: "/data/x", length: 64 * 1024 + 1 }],
    ["read-file", { path: "/data/x", offset: -1 }],
    ["read-file", { path: "/data/x\u0000" }],
    ["write-file", { path: "/data/x", content: "y".repeat(64 * 1024 + 1) }],
    ["write-file", { path: "/data/x", content: `${SECRET}!`, encoding: "base64" }],
    ["write-file", { path: "/data/x", content: "x", mode: "r+" }],
  ];
  for (const [command, args] of cases) {
    const reply = await send(command, args);
    assert.equal(reply.error?.code, "invalid_arguments", `${command} ${JSON.stringify(args)}`);
    assert.doesNotMatch(reply.error?.message ?? "", new RegExp(`${SECRET}|yyyy|xxxx`));
  }
  assert.equal(seen("guest-exec").length + seen("guest-file-open").length, 0);
});

test("a file of 3.5 chunks is written and read back in chunks with the same sha256", async () => {
  const { guest, send, seen } = await setup();
  const bytes = randomBytes(3.5 * CHUNK);
  const wrote = result(
    await send("write-file", { path: "/data/blob", content: bytes.toString("base64"), encoding: "base64" }),
  );
  assert.deepEqual(wrote, { bytes: bytes.length, sha256: sha256(bytes) });
  assert.deepEqual(guest.files.get("/data/blob"), bytes);
  const writes = seen("guest-file-write").map(
    (r) => Buffer.from(String((r.arguments as Record<string, unknown>)["buf-b64"]), "base64").length,
  );
  assert.deepEqual(writes, [CHUNK, CHUNK, CHUNK, CHUNK / 2]);
  assert.equal(seen("guest-file-flush").length, 1);

  const read = result(await send("read-file", { path: "/data/blob" }));
  assert.equal(read.encoding, "base64");
  assert.deepEqual(Buffer.from(String(read.content), "base64"), bytes);
  assert.equal(read.sha256, sha256(bytes));
  assert.equal(read.bytes, bytes.length);
  assert.equal(read.eof, true);
  assert.deepEqual(
    seen("guest-file-read").map((r) => (r.arguments as { count: number }).count),
    [CHUNK, CHUNK, CHUNK, CHUNK],
  );
  assert.equal(guest.openHandles, 0);

  const part = result(await send("read-file", { path: "/data/blob", offset: 100, length: 5000 }));
  assert.deepEqual(Buffer.from(String(part.content), "base64"), bytes.subarray(100, 5100));
  assert.equal(part.eof, false);

  result(await send("write-file", { path: "/tmp/note", content: "é\n" }));
  result(await send("write-file", { path: "/tmp/note", content: "more\n", mode: "a" }));
  const text = result(await send("read-file", { path: "/tmp/note" }));
  assert.deepEqual(text, {
    content: "é\nmore\n",
    encoding: "utf8",
    bytes: 8,
    sha256: sha256(Buffer.from("é\nmore\n")),
    eof: true,
  });
});

test("the handle is closed after an error half way, a short write, and a timeout", async () => {
  const { guest, fake, send, logs, audits } = await setup();
  guest.files.set("/data/big", Buffer.alloc(3 * CHUNK, 1));
  guest.beforeRead = (nth) => {
    if (nth === 2) throw new AgentFailure("GenericError", "failed to read file: Input/output error");
  };
  const failed = await send("read-file", { path: "/data/big" });
  assert.equal(failed.error?.code, "agent_error");
  const first = handleOf(fake, "guest-file-read", "first");
  await fake.waitForRequest(closed(first));

  guest.beforeRead = () => {};
  guest.writeCap = 100;
  const short = await send("write-file", { path: "/data/full", content: SECRET.repeat(10) });
  assert.equal(short.error?.code, "agent_error");
  assert.equal(short.error?.bytes_written, 100);
  const writeHandle = handleOf(fake, "guest-file-write");
  await fake.waitForRequest(closed(writeHandle));

  fake.fault("guest-file-read", { kind: "hang" });
  const timedOut = await send("read-file", { path: "/data/big" }, { timeout: 0.3 });
  assert.equal(timedOut.error?.code, "timeout");
  const hung = handleOf(fake, "guest-file-read");
  fake.release();
  await fake.waitForRequest(closed(hung));
  assert.equal(guest.openHandles, 0);

  // Neither the content nor stdin is in any log line, audit record or reply.
  assert.ok(logs.length > 0);
  for (const text of [...logs, JSON.stringify(audits), JSON.stringify(short)])
    assert.ok(!text.includes(SECRET));
});
