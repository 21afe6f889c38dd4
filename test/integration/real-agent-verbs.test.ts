import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Reply } from "../../src/commands/runner.js";
import { type AgentRunner, startAgentRunner } from "../helpers/agent-runner.js";
import { type RealAgent, realAgentVersions, startRealAgent } from "../helpers/qemu-ga.js";

/**
 * The verbs that drive guest-exec and guest-file-* (exec, exec-status, read-file, write-file, the transfer
 * verbs) once against each real agent version (7.2 and 10.0: test/helpers/qemu-ga.ts), small and quick:
 * what each agent answers is the subject. The edge cases are transfer.test.ts's (7.2) and the fake's
 * (verbs-exec-files.test.ts). The agent writes to this machine: restrictions confine guest-file-open to a
 * temporary folder and guest-exec to fixed programs.
 */

const PART = 64 * 1024;
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

function ok(reply: Reply): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}

for (const { version, binary, skip } of realAgentVersions()) {
  describe(`verbs on qemu-ga ${version}`, { skip }, () => {
    let real: RealAgent;
    let files: string;
    let r: AgentRunner;

    before(async () => {
      if (skip) return;
      real = await startRealAgent({ binary, allow: ["guest-file-open", "guest-exec"] });
      files = path.join(real.dir, "files");
      await mkdir(files);
      r = await startAgentRunner(real.socket, {
        restrictions: {
          default: { files: [files], exec: ["/bin/sh", "/bin/mv", "/bin/chmod", "/bin/rm"] },
        },
        limits: { fileChunkBytes: 4096, transferPartBytes: PART },
      });
    });

    after(async () => {
      await r?.stop();
      await real?.dispose();
    });

    test("ping answers", async () => {
      ok(await r.send("ping", {}));
      assert.ok((r.calls.get("guest-ping")?.count ?? 0) >= 1);
    });

    test("exec: exit code, stdout, stderr and stdin of a program the agent ran", async () => {
      const run = ok(
        await r.send("exec", {
          path: "/bin/sh",
          args: ["-c", 'read line; echo "got $line"; echo oops >&2; exit 3'],
          stdin: "héllo\n",
        }),
      );
      assert.equal(run.exit_code, 3);
      assert.equal(run.exited, true);
      assert.equal(run.stdout, "got héllo\n");
      assert.equal(run.stderr, "oops\n");
      const killed = ok(await r.send("exec", { path: "/bin/sh", args: ["-c", "kill -9 $$"] }));
      assert.equal(killed.signal, 9);
      assert.equal(killed.exit_code, undefined);
    });

    test("exec-status: a program past the deadline runs on, and its result is collected later", async () => {
      const gate = path.join(files, "gate");
      const script = `while [ ! -e ${gate} ]; do sleep 0.02; done; echo done`;
      const late = await r.send("exec", { path: "/bin/sh", args: ["-c", script] }, { timeout: 0.2 });
      assert.equal(late.ok, false);
      assert.equal(late.error?.code, "timeout");
      const pid = late.error?.pid;
      assert.equal(typeof pid, "number");
      assert.equal(ok(await r.send("exec-status", { pid })).exited, false);
      await writeFile(gate, "");
      // The program exits within a tick of its loop (20 ms); exec-status is how a caller learns it.
      let status: Record<string, unknown> = {};
      for (let polls = 0; status.exited !== true; polls++) {
        assert.ok(polls < 500, "the program never exited");
        status = ok(await r.send("exec-status", { pid }));
        if (status.exited !== true) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(status.exit_code, 0);
      assert.equal(status.stdout, "done\n");
    });

    test("write-file, append, and read-file in chunks: the bytes on disk and back", async () => {
      const target = path.join(files, "text.txt");
      const first = "é".repeat(3000); // 6000 bytes: two chunks of 4096
      const wrote = ok(await r.send("write-file", { path: target, content: first }));
      assert.equal(wrote.sha256, sha256(Buffer.from(first)));
      ok(await r.send("write-file", { path: target, content: "tail\n", mode: "a" }));
      const onDisk = await readFile(target);
      assert.equal(onDisk.toString(), `${first}tail\n`);
      const read = ok(await r.send("read-file", { path: target }));
      assert.equal(read.encoding, "utf8");
      assert.equal(read.content, `${first}tail\n`);
      assert.equal(read.bytes, onDisk.length);
      assert.equal(read.sha256, sha256(onDisk));
      assert.equal(read.eof, true);
      const part = ok(await r.send("read-file", { path: target, offset: 6000, length: 4 }));
      assert.equal(part.content, "tail");
      assert.equal(part.eof, false);
      const binary = randomBytes(1000);
      ok(
        await r.send("write-file", { path: target, content: binary.toString("base64"), encoding: "base64" }),
      );
      const back = ok(await r.send("read-file", { path: target }));
      assert.equal(back.encoding, "base64");
      assert.equal(back.content, binary.toString("base64"));
    });

    test("put then get of a file in parts: renamed into place, same sha256 both ways", async () => {
      const bytes = randomBytes(3 * PART + 123);
      const target = path.join(files, "put.bin");
      const begin = ok(
        await r.send("put-begin", { path: target, size: bytes.length, sha256: sha256(bytes), mode: "0640" }),
      );
      let received = 0;
      for (let guard = 0; received < bytes.length; guard++) {
        assert.ok(guard < 10);
        const data = bytes.subarray(received, received + PART);
        received = ok(
          await r.send("put-part", {
            transfer: begin.transfer,
            offset: received,
            data: data.toString("base64"),
            sha256: sha256(data),
          }),
        ).received as number;
      }
      assert.deepEqual(ok(await r.send("put-end", { transfer: begin.transfer })), {
        path: target,
        bytes: bytes.length,
        sha256: sha256(bytes),
      });
      assert.equal(sha256(await readFile(target)), sha256(bytes));
      assert.equal((await stat(target)).mode & 0o777, 0o640);

      const get = ok(await r.send("get-begin", { path: target }));
      assert.equal(get.size, bytes.length);
      const parts: Buffer[] = [];
      let eof = false;
      for (let offset = 0, guard = 0; !eof; guard++) {
        assert.ok(guard < 10);
        const got = ok(await r.send("get-part", { transfer: get.transfer, offset }));
        const data = Buffer.from(String(got.data), "base64");
        assert.equal(got.sha256, sha256(data));
        parts.push(data);
        offset += data.length;
        eof = got.eof === true;
      }
      assert.equal(sha256(Buffer.concat(parts)), sha256(bytes));
      assert.deepEqual(ok(await r.send("get-end", { transfer: get.transfer })), {
        bytes: bytes.length,
        sha256: sha256(bytes),
      });
    });

    test("transfer-abort of a put half sent removes its temporary file", async () => {
      const bytes = randomBytes(2 * PART);
      const begin = ok(
        await r.send("put-begin", {
          path: path.join(files, "aborted.bin"),
          size: bytes.length,
          sha256: sha256(bytes),
        }),
      );
      const data = bytes.subarray(0, PART);
      const sent = {
        transfer: begin.transfer,
        offset: 0,
        data: data.toString("base64"),
        sha256: sha256(data),
      };
      assert.equal(ok(await r.send("put-part", sent)).received, PART);
      // There, though not necessarily all of it: the agent buffers guest-file-write until a flush or close.
      assert.ok((await stat(String(begin.temp))).isFile());
      assert.deepEqual(ok(await r.send("transfer-abort", { transfer: begin.transfer })), { aborted: true });
      await assert.rejects(stat(String(begin.temp)), { code: "ENOENT" });
    });
  });
}
