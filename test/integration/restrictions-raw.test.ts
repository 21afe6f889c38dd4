import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { startVerbRunner, type VerbRunner } from "../helpers/verb-runner.js";

/**
 * The restrictions hold for whatever reaches the agent (issue 18, holes 1 and 2): raw guest-exec and
 * guest-file-* commands are checked as the verbs are, handles and pids not obtained through an allowed
 * path or program are refused, and `env` cannot turn an allowed program into any program. The fake guest
 * records every request it got, so "refused" also means "never sent".
 */
let dir: string;
let runner: VerbRunner;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-restrict-"));
  runner = await startVerbRunner(dir, {
    restrictions: {
      default: { exec: ["/bin/echo", "/usr/bin/ldd"], env: ["LANG", "LC_*", "*"], files: ["/tmp/allowed"] },
    },
  });
  runner.guest.files.set("/etc/shadow", Buffer.from("root:$6$secret:19000:0:99999:7:::\n"));
  runner.guest.files.set("/tmp/allowed/note.txt", Buffer.from("hello\n"));
});

after(async () => {
  await runner?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function code(reply: Reply): string | undefined {
  return reply.ok ? undefined : reply.error?.code;
}

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

test("raw guest-exec of a program outside restrictions.exec is forbidden and never sent", async () => {
  const before = runner.seen("guest-exec").length;
  const reply = await runner.send("guest-exec", { path: "/bin/sh", arg: ["-c", "id > /tmp/pwned"] });
  assert.equal(code(reply), "forbidden");
  assert.match(reply.error?.message ?? "", /restrictions: exec/);
  const dotted = await runner.send("guest-exec", { path: "/bin/../bin/sh" });
  assert.equal(code(dotted), "forbidden");
  assert.equal(runner.seen("guest-exec").length, before);
});

test("raw guest-exec of an allowed program goes to the agent normalised", async () => {
  const reply = await runner.send("guest-exec", { path: "/bin/./echo", arg: ["hi"] });
  const { pid } = ok(reply);
  assert.equal(typeof pid, "number");
  assert.deepEqual(runner.seen("guest-exec").at(-1)?.arguments, { path: "/bin/echo", arg: ["hi"] });
  // A pid started through here may be asked about, raw or by the verb.
  assert.equal(ok(await runner.send("guest-exec-status", { pid })).exited, true);
});

test("guest-exec-status of a pid not started through this worker is forbidden", async () => {
  // Another client of the agent (or a guess) started it: its output is not ours to read.
  const { pid } = runner.guest.commands()["guest-exec"]!({ path: "/usr/bin/secret-job" }) as { pid: number };
  const before = runner.seen("guest-exec-status").length;
  assert.equal(code(await runner.send("guest-exec-status", { pid })), "forbidden");
  assert.equal(code(await runner.send("exec-status", { pid })), "forbidden");
  assert.equal(runner.seen("guest-exec-status").length, before);
});

test("raw guest-file-open outside restrictions.files is forbidden and never sent", async () => {
  const before = runner.seen("guest-file-open").length;
  for (const target of ["/etc/shadow", "/tmp/allowed/../../etc/shadow", "/tmp/allowedx/f", "relative"]) {
    const reply = await runner.send("guest-file-open", { path: target, mode: "r" });
    assert.equal(code(reply), "forbidden", target);
  }
  assert.equal(runner.seen("guest-file-open").length, before);
});

test("file handles not opened through an allowed path are refused; allowed ones work until closed", async () => {
  // A handle another client of the agent opened on a file outside the allowed folder.
  const foreign = runner.guest.commands()["guest-file-open"]!({ path: "/etc/shadow", mode: "r" }) as number;
  const sent = () => runner.seen("guest-file-read").length + runner.seen("guest-file-write").length;
  const before = sent();
  assert.equal(code(await runner.send("guest-file-read", { handle: foreign, count: 4096 })), "forbidden");
  assert.equal(
    code(await runner.send("guest-file-write", { handle: foreign, "buf-b64": "eA==" })),
    "forbidden",
  );
  assert.equal(
    code(await runner.send("guest-file-seek", { handle: foreign, offset: 0, whence: "set" })),
    "forbidden",
  );
  assert.equal(code(await runner.send("guest-file-close", { handle: foreign })), "forbidden");
  assert.equal(sent(), before);

  const handle = ok(await runner.send("guest-file-open", { path: "/tmp/allowed/note.txt", mode: "r" }));
  const read = ok(await runner.send("guest-file-read", { handle, count: 4096 }));
  assert.equal(Buffer.from(String(read["buf-b64"]), "base64").toString(), "hello\n");
  ok(await runner.send("guest-file-close", { handle }));
  // Closed: the number may be handed out again by the agent to someone else.
  assert.equal(code(await runner.send("guest-file-read", { handle, count: 1 })), "forbidden");
});

test("env under an exec restriction: loader and interpreter variables are never allowed", async () => {
  const before = runner.seen("guest-exec").length;
  for (const variable of [
    "LD_PRELOAD=/tmp/allowed/evil.so",
    "BASH_ENV=/dev/stdin",
    "PATH=/tmp/allowed",
    "ld_preload=x",
    "PYTHONSTARTUP=/tmp/x",
    "NODE_OPTIONS=--require=/tmp/x",
  ]) {
    const verb = await runner.send("exec", { path: "/usr/bin/ldd", env: [variable], stdin: "id\n" });
    assert.equal(code(verb), "forbidden", variable);
    assert.doesNotMatch(verb.error?.message ?? "", /evil|dev\/stdin|require/, "values are not quoted");
    const raw = await runner.send("guest-exec", { path: "/bin/echo", env: [variable] });
    assert.equal(code(raw), "forbidden", variable);
  }
  assert.equal(runner.seen("guest-exec").length, before);
  // Allowed names pass.
  ok(await runner.send("exec", { path: "/bin/echo", env: ["LANG=C.UTF-8", "LC_ALL=C"] }));
});

test("env under an exec restriction without an env list is refused", async () => {
  const strict = await startVerbRunner(dir, { restrictions: { default: { exec: ["/bin/echo"] } } });
  try {
    const reply = await strict.send("exec", { path: "/bin/echo", env: ["LANG=C"] });
    assert.equal(code(reply), "forbidden");
    assert.match(reply.error?.message ?? "", /restrictions: env/);
    assert.equal(code(await strict.send("guest-exec", { path: "/bin/echo", env: "LANG=C" })), "forbidden");
    assert.equal(strict.seen("guest-exec").length, 0);
    // Without env the program runs.
    ok(await strict.send("exec", { path: "/bin/echo" }));
  } finally {
    await strict.stop();
  }
});

test("without restrictions the policy alone decides, raw commands included", async () => {
  const open = await startVerbRunner(dir, {});
  try {
    open.guest.files.set("/etc/hostname", Buffer.from("guest\n"));
    const handle = ok(await open.send("guest-file-open", { path: "/etc/hostname" }));
    ok(await open.send("guest-file-read", { handle }));
    ok(await open.send("guest-file-close", { handle }));
    ok(await open.send("guest-exec", { path: "/bin/sh", env: ["LD_LIBRARY_PATH=/opt/lib"] }));
  } finally {
    await open.stop();
  }
});
