// Transfers (put-begin … put-end, get-begin … get-end) and write-file with the default limits, as a user
// runs them: the worker CLI, a real mosquitto and a tiny real VM (test/vm) whose qemu-ga writes to the
// ext4 disk at /data (16 MiB) and its RAM-backed /tmp (the 64 MiB file), and runs busybox's mv and sha256sum.
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
    name: "e2e-transfer",
    vmName,
    memoryMiB: 512,
    restriction: { exec: ["/bin/*", "/usr/bin/*"], files: ["/data", "/tmp"] },
  });
});

after(async () => {
  await served?.stop();
});

const request = (command: string, body: Record<string, unknown>) => served.request(command, body);

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

const MiB = 1024 * 1024;

test("write-file of 300 kB with the default limits (the payload limit follows limits.fileBytes)", {
  skip,
}, async (t) => {
  const bytes = randomBytes(300_000);
  const wrote = await request("write-file", {
    args: { path: "/data/300k.bin", content: bytes.toString("base64"), encoding: "base64" },
  });
  t.diagnostic(JSON.stringify(wrote).slice(0, 300));
  assert.deepEqual(result(wrote), { bytes: bytes.length, sha256: sha256(bytes) });
});

/** The sha256 of a guest file, computed in the guest, if it has sha256sum; undefined if not. */
async function guestSha256(file: string): Promise<string | undefined> {
  const args = ["-c", 'command -v sha256sum >/dev/null || exit 127; sha256sum "$0"', file];
  const reply = result(await request("exec", { args: { path: "/bin/sh", args }, timeout: 120 }));
  if (reply.exit_code === 127) return undefined;
  assert.equal(reply.exit_code, 0, JSON.stringify(reply));
  return String(reply.stdout).split(" ")[0]!;
}

test("64 MiB each way: put in parts renamed into place, get in parts, sha256 checked", {
  skip,
}, async (t) => {
  const bytes = randomBytes(64 * MiB);
  const digest = sha256(bytes);
  let started = Date.now();
  const begin = result(
    await request("put-begin", { args: { path: "/tmp/big.bin", size: bytes.length, sha256: digest } }),
  );
  const partBytes = begin.part_bytes as number;
  assert.equal(partBytes, MiB);
  let received = begin.received as number;
  for (let guard = 0; received < bytes.length; guard++) {
    assert.ok(guard < 200);
    const data = bytes.subarray(received, received + partBytes);
    const args = {
      transfer: begin.transfer,
      offset: received,
      data: data.toString("base64"),
      sha256: sha256(data),
    };
    received = result(await request("put-part", { args })).received as number;
  }
  const end = result(await request("put-end", { args: { transfer: begin.transfer }, timeout: 120 }));
  assert.deepEqual(end, { path: "/tmp/big.bin", bytes: bytes.length, sha256: digest });
  const putMs = Date.now() - started;
  // In the guest if it can; the get below reads it back and checks the same sha256 in any case.
  const inGuest = await guestSha256("/tmp/big.bin");
  t.diagnostic(`sha256 in the guest: ${inGuest ?? "no sha256sum there"}`);
  if (inGuest !== undefined) assert.equal(inGuest, digest);
  started = Date.now();
  const get = result(await request("get-begin", { args: { path: "/tmp/big.bin" } }));
  assert.equal(get.size, bytes.length);
  const hash = createHash("sha256");
  let offset = 0;
  let eof = false;
  for (let guard = 0; !eof; guard++) {
    assert.ok(guard < 200);
    const part = result(await request("get-part", { args: { transfer: get.transfer, offset } }));
    const data = Buffer.from(String(part.data), "base64");
    assert.equal(part.sha256, sha256(data));
    hash.update(data);
    offset += data.length;
    eof = part.eof as boolean;
  }
  assert.equal(hash.digest("hex"), digest);
  assert.deepEqual(result(await request("get-end", { args: { transfer: get.transfer } })), {
    bytes: bytes.length,
    sha256: digest,
  });
  const getMs = Date.now() - started;
  t.diagnostic(
    `64 MiB put ${putMs} ms (${((64 * 1000) / putMs).toFixed(1)} MiB/s), get ${getMs} ms (${((64 * 1000) / getMs).toFixed(1)} MiB/s)`,
  );
});
