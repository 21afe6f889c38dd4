import assert from "node:assert/strict";
import { test } from "node:test";
import { guestBaseName, parseMode, parseRemote } from "../../src/caller/cp-args.js";
import { CpProgress, formatBytes, formatSeconds } from "../../src/caller/cp-progress.js";

test("VM:/path, group:NAME:/path and all:/path are in VMs; anything with a slash before its colon is local", () => {
  assert.deepEqual(parseRemote("web1:/etc/motd")?.target, { kind: "vm", vm: "web1" });
  assert.deepEqual(parseRemote("group:web:/etc/motd")?.target, { kind: "group", group: "web" });
  assert.deepEqual(parseRemote("all:/etc/motd")?.target, { kind: "group", group: "all" });
  assert.equal(parseRemote("win1:C:\\temp\\a.txt")?.path, "C:\\temp\\a.txt");
  for (const local of ["./a:b", "/tmp/x:y", "pkg.deb", "./"])
    assert.equal(parseRemote(local), undefined, local);
  assert.throws(() => parseRemote("web1:"), /names no file in the guest/);
  assert.throws(() => parseRemote("we#b:/x"), /not a VM name/);
});

test("--mode takes 3 or 4 octal digits, as the 4-digit string put-begin takes", () => {
  assert.equal(parseMode("644"), "0644");
  assert.equal(parseMode("0755"), "0755");
  assert.equal(parseMode("4755"), "4755");
  for (const bad of ["rw", "888", "12", "07777"]) assert.throws(() => parseMode(bad), /octal file mode/, bad);
  assert.equal(guestBaseName("/var/log/syslog"), "syslog");
  assert.equal(guestBaseName("C:\\logs\\app.log"), "app.log");
});

test("the progress line: bytes, rate and time left per VM, drawn only when enabled", () => {
  let now = 0;
  const written: string[] = [];
  const progress = new CpProgress(
    (text) => written.push(text),
    true,
    () => now,
  );
  progress.update("web1", 0, 64 * 1024 * 1024);
  now = 2000;
  progress.update("web1", 16 * 1024 * 1024, 64 * 1024 * 1024);
  assert.equal(progress.line(), "web1 16.0/64.0 MiB 8.0 MiB/s 6s");
  assert.equal(written.at(-1), "\r\u001b[2Kweb1 16.0/64.0 MiB 8.0 MiB/s 6s");
  progress.clear();
  assert.equal(written.at(-1), "\r\u001b[2K");
  const silent: string[] = [];
  new CpProgress((text) => silent.push(text), false).update("web1", 1, 2);
  assert.deepEqual(silent, []);
  assert.equal(formatBytes(512, 900), "512/900 B");
  assert.equal(formatSeconds(3725), "1h02m");
});
