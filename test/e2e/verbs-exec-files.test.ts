// exec, exec-status, read-file and write-file as a user runs them: the worker CLI, a real mosquitto and a
// tiny real VM (test/vm) whose qemu-ga runs programs from busybox and writes to the ext4 disk at /data.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { skipWithout } from "../helpers/tools.js";
import { result, VmWorker } from "../helpers/vm-worker.js";

const skip = skipWithout("qemu-system-x86_64", "mosquitto");
const vmName = "web1";
let served: VmWorker;

before(async () => {
  if (skip) return;
  served = await VmWorker.start({
    name: "e2e-exec",
    vmName,
    restriction: { exec: ["/bin/*"], files: ["/data", "/tmp"] },
    limits: {
      defaultTimeoutSeconds: 30,
      maxPayloadBytes: 8 * 1024 * 1024,
      fileBytes: 4 * 1024 * 1024,
      fileChunkBytes: 512 * 1024,
    },
  });
});

after(async () => {
  await served?.stop();
});

const request = (command: string, body: Record<string, unknown>) => served.request(command, body);

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

test("exec: stdout, stderr and the exit code of a shell", { skip }, async (t) => {
  const reply = await request("exec", {
    args: { path: "/bin/sh", args: ["-c", "echo out; echo err >&2; exit 3"] },
  });
  t.diagnostic(JSON.stringify(reply));
  const r = result(reply);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(r.exit_code, 3);
  assert.equal(r.signal, undefined);
  assert.equal(r.stdout_truncated, false);
});

test("exec: a program killed by a signal reports the signal", { skip }, async (t) => {
  const reply = await request("exec", { args: { path: "/bin/sh", args: ["-c", "kill -9 $$"] } });
  t.diagnostic(JSON.stringify(reply));
  assert.equal(result(reply).signal, 9);
  assert.equal(result(reply).exit_code, undefined);
});

test("exec: stdin reaches the program; binary output comes back as base64", { skip }, async (t) => {
  const cat = await request("exec", { args: { path: "/bin/cat", stdin: "héllo from stdin\n" } });
  t.diagnostic(JSON.stringify(cat));
  assert.equal(result(cat).stdout, "héllo from stdin\n");
  const binary = await request("exec", { args: { path: "/bin/sh", args: ["-c", 'printf "\\377\\376"'] } });
  t.diagnostic(JSON.stringify(binary));
  assert.equal(result(binary).stdout_encoding, "base64");
  assert.equal(result(binary).stdout, "//4=");
});

test("exec past its timeout answers with the pid; exec-status then gives the result", { skip }, async (t) => {
  const timedOut = await request("exec", { args: { path: "/bin/sleep", args: ["2"] }, timeout: 0.8 });
  t.diagnostic(JSON.stringify(timedOut));
  const error = timedOut.error as Record<string, unknown>;
  assert.equal(error.code, "timeout");
  assert.equal(error.running, true);
  const pid = error.pid;
  const running = await request("exec-status", { args: { pid } });
  t.diagnostic(JSON.stringify(running));
  assert.equal(result(running).exited, false);
  let status = running;
  for (let i = 0; i < 50 && result(status).exited === false; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = await request("exec-status", { args: { pid } });
  }
  t.diagnostic(JSON.stringify(status));
  assert.equal(result(status).exit_code, 0);
  // The agent reaped it at that status; the worker's kept copy answers again.
  assert.deepEqual(result(await request("exec-status", { args: { pid } })), result(status));
});

test("write-file then read-file of 2.5 MiB in 512 KiB chunks: same bytes, same sha256", {
  skip,
}, async (t) => {
  const bytes = randomBytes(2.5 * 1024 * 1024);
  const wrote = await request("write-file", {
    args: { path: "/data/blob.bin", content: bytes.toString("base64"), encoding: "base64" },
  });
  t.diagnostic(JSON.stringify(wrote));
  assert.deepEqual(result(wrote), { bytes: bytes.length, sha256: sha256(bytes) });
  const read = result(await request("read-file", { args: { path: "/data/blob.bin" } }));
  assert.equal(read.sha256, sha256(bytes));
  assert.equal(read.bytes, bytes.length);
  assert.equal(read.eof, true);
  assert.equal(read.encoding, "base64");
  assert.ok(Buffer.from(String(read.content), "base64").equals(bytes));

  const note = await request("write-file", { args: { path: "/data/../data/note.txt", content: "hello\n" } });
  t.diagnostic(JSON.stringify(note));
  const text = await request("read-file", { args: { path: "/data/note.txt" } });
  t.diagnostic(JSON.stringify(text));
  assert.equal(result(text).content, "hello\n");
  assert.equal(result(text).encoding, "utf8");
});

test("paths and programs outside the restrictions are forbidden", { skip }, async (t) => {
  const file = await request("read-file", { args: { path: "/data/../etc/passwd" } });
  t.diagnostic(JSON.stringify(file));
  assert.equal((file.error as Record<string, unknown>).code, "forbidden");
  const program = await request("exec", { args: { path: "/sbin/poweroff" } });
  t.diagnostic(JSON.stringify(program));
  assert.equal((program.error as Record<string, unknown>).code, "forbidden");
  assert.ok(served.vm.running);
});

test("raw guest-exec and guest-file-* are held to the same restrictions as the verbs", {
  skip,
}, async (t) => {
  const program = await request("guest-exec", { args: { path: "/sbin/poweroff" } });
  t.diagnostic(JSON.stringify(program));
  assert.equal((program.error as Record<string, unknown>).code, "forbidden");
  const outside = await request("guest-file-open", { args: { path: "/data/../etc/passwd", mode: "r" } });
  assert.equal((outside.error as Record<string, unknown>).code, "forbidden");
  const preload = await request("guest-exec", {
    args: { path: "/bin/echo", env: ["LD_PRELOAD=/data/x.so"] },
  });
  assert.equal((preload.error as Record<string, unknown>).code, "forbidden");
  const bashEnv = await request("exec", {
    args: { path: "/bin/echo", env: ["BASH_ENV=/dev/stdin"], stdin: "id\n" },
  });
  assert.equal((bashEnv.error as Record<string, unknown>).code, "forbidden");
  // A handle the agent never gave this worker for an allowed path: refused before the guest.
  const guessed = await request("guest-file-read", { args: { handle: 1, count: 16 } });
  assert.equal((guessed.error as Record<string, unknown>).code, "forbidden");
  // Within the restrictions the raw commands work, on the real agent.
  await request("write-file", { args: { path: "/data/raw.txt", content: "raw\n" } });
  const handle = result(await request("guest-file-open", { args: { path: "/data/raw.txt", mode: "r" } }));
  const read = result(await request("guest-file-read", { args: { handle, count: 16 } }));
  assert.equal(Buffer.from(String(read["buf-b64"]), "base64").toString(), "raw\n");
  result(await request("guest-file-close", { args: { handle } }));
  assert.ok(served.vm.running);
});
