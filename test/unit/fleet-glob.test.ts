import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compileSegment, globSockets } from "../../src/fleet/glob.js";

/* The small glob behind discovery.globs: real unix sockets in a temp folder, and things that are not. */

const servers: net.Server[] = [];
const root = await mkdtemp(path.join(os.tmpdir(), "fleet-glob-"));
after(async () => {
  for (const server of servers) server.close();
  await rm(root, { recursive: true, force: true });
});

async function socketAt(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(file, resolve);
  });
}

test("matches sockets only, sorted by path, with the text of each '*'", async () => {
  const base = path.join(root, "run");
  await socketAt(path.join(base, "web2", "qga.sock"));
  await socketAt(path.join(base, "web1", "qga.sock"));
  await mkdir(path.join(base, "plain"), { recursive: true });
  await writeFile(path.join(base, "plain", "qga.sock"), "not a socket");
  await mkdir(path.join(base, "folder", "qga.sock"), { recursive: true });
  await socketAt(path.join(base, ".hidden", "qga.sock"));

  const result = await globSockets(`${base}/*/qga.sock`);
  assert.deepEqual(result.matches, [
    { path: path.join(base, "web1", "qga.sock"), stars: ["web1"] },
    { path: path.join(base, "web2", "qga.sock"), stars: ["web2"] },
  ]);
  assert.deepEqual(result.unreadable, []);
  // The listed folder and every matched VM folder are watched; nothing above the first wildcard.
  assert.ok(result.folders.includes(base));
  assert.ok(result.folders.includes(path.join(base, "web1")));
  assert.ok(!result.folders.includes(root));
});

test("several '*' and '?' in one segment; the pattern's other characters are literal", async () => {
  const base = path.join(root, "multi");
  await socketAt(path.join(base, "vm-web-1.a.sock"));
  await socketAt(path.join(base, "vm-db-22.b.sock"));
  await socketAt(path.join(base, "vm-xx-3xaxsock"));
  const result = await globSockets(`${base}/vm-*-*.?.sock`);
  assert.deepEqual(
    result.matches.map((m) => m.stars),
    [
      ["db", "22"],
      ["web", "1"],
    ],
  );
});

test("a missing prefix or a file where a folder should be is skipped, not fatal", async () => {
  assert.deepEqual((await globSockets(path.join(root, "nope", "*", "qga.sock"))).matches, []);
  const base = path.join(root, "notdir");
  await mkdir(base, { recursive: true });
  await writeFile(path.join(base, "web1"), "a file, not a VM folder");
  await socketAt(path.join(base, "..", "notdir2", "web2", "qga.sock"));
  const result = await globSockets(`${root}/notdir*/*/qga.sock`);
  assert.deepEqual(
    result.matches.map((m) => m.stars),
    [["2", "web2"]],
  );
  assert.deepEqual(result.unreadable, []);
});

test("a folder that exists but cannot be read is skipped and reported, the others still match", async () => {
  // Root reads every folder whatever its mode, so a symlink loop stands in for an unreadable one (ELOOP).
  const base = path.join(root, "loop");
  await mkdir(base, { recursive: true });
  await symlink(path.join(base, "a"), path.join(base, "a"));
  await socketAt(path.join(base, "b", "qga.sock"));
  const result = await globSockets(`${base}/*/*.sock`);
  assert.deepEqual(
    result.matches.map((m) => m.path),
    [path.join(base, "b", "qga.sock")],
  );
  assert.deepEqual(result.unreadable, [`${path.join(base, "a")} (ELOOP)`]);
});

test("segment matcher: lazy '*', no leading dot unless spelled, regex characters are plain", () => {
  assert.deepEqual(compileSegment("*-*")("a-b-c"), ["a", "b-c"]);
  assert.deepEqual(compileSegment("*.qga")("101.qga"), ["101"]);
  assert.equal(compileSegment("*.qga")("101xqga"), undefined);
  assert.equal(compileSegment("*")(".tmp"), undefined);
  assert.deepEqual(compileSegment(".*")(".tmp"), ["tmp"]);
  assert.deepEqual(compileSegment("a(b)+*")("a(b)+1"), ["1"]);
  assert.equal(compileSegment("vm?")("vm"), undefined);
  assert.deepEqual(compileSegment("vm?*")("vmé1"), ["1"]);
});

test("a relative pattern is a programming error", async () => {
  await assert.rejects(globSockets("run/*/qga.sock"), TypeError);
});
