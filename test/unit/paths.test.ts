import assert from "node:assert/strict";
import { test } from "node:test";
import {
  argPath,
  authorizeFile,
  authorizeProgram,
  compileGlob,
  matchesAnyGlob,
  normalisePath,
  withinAnyPrefix,
} from "../../src/commands/paths.js";
import { WorkerError } from "../../src/errors.js";

function forbidden(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WorkerError);
    assert.equal(error.code, "forbidden");
    return error.message;
  }
  assert.fail("expected forbidden");
}

test("normalisation resolves . and .., drops duplicate and trailing slashes, refuses relative paths", () => {
  const cases: Array<[string, string | undefined]> = [
    ["/tmp/../etc/shadow", "/etc/shadow"],
    ["//etc//passwd", "/etc/passwd"],
    ["/tmp/./x", "/tmp/x"],
    ["/var/log/", "/var/log"],
    ["/var/log///", "/var/log"],
    ["/", "/"],
    ["/..", "/"],
    ["/../../etc/passwd", "/etc/passwd"],
    ["/a/b/../../..", "/"],
    ["/a/.../b", "/a/.../b"],
    ["/a/..b/c", "/a/..b/c"],
    ["etc/passwd", undefined],
    ["./x", undefined],
    ["../etc", undefined],
    ["", undefined],
  ];
  for (const [path, expected] of cases) assert.equal(normalisePath(path), expected, path);
});

test("globs: * and ? within a segment, ** across segments, everything else literal", () => {
  const yes: Array<[string, string]> = [
    ["/usr/bin/*", "/usr/bin/uptime"],
    ["/usr/bin/*", "/usr/bin/.hidden"],
    ["/usr/bin/up?ime", "/usr/bin/uptime"],
    ["/opt/**", "/opt/app/bin/run"],
    ["/opt/**", "/opt/x"],
    ["/opt/**/run", "/opt/run"],
    ["/opt/**/run", "/opt/a/b/run"],
    ["/opt/**.sh", "/opt/a/b.sh"],
    ["/usr//bin/*", "/usr/bin/ls"],
    ["/bin/sh", "/bin/sh"],
    ["/srv/a+b(1)/[x]", "/srv/a+b(1)/[x]"],
  ];
  const no: Array<[string, string]> = [
    ["/usr/bin/*", "/usr/bin/sub/x"],
    ["/usr/bin/*", "/usr/bin"],
    ["/usr/bin/up?ime", "/usr/bin/upttime"],
    ["/opt/**", "/opt"],
    ["/opt/**", "/optx/y"],
    ["/opt/**/run", "/opt/a/runner"],
    ["/bin/sh", "/bin/shx"],
    ["/srv/a+b", "/srv/aab"],
    ["/srv/a.b", "/srv/axb"],
  ];
  for (const [pattern, path] of yes) assert.ok(compileGlob(pattern).test(path), `${pattern} ~ ${path}`);
  for (const [pattern, path] of no) assert.ok(!compileGlob(pattern).test(path), `${pattern} !~ ${path}`);
  assert.ok(matchesAnyGlob("/bin/echo", ["/usr/bin/*", "/bin/echo"]));
  assert.ok(!matchesAnyGlob("/bin/echo", []));
});

test("prefixes match whole segments, after normalising the prefix too", () => {
  assert.ok(withinAnyPrefix("/var/log", ["/var/log"]));
  assert.ok(withinAnyPrefix("/var/log/x", ["/var/log"]));
  assert.ok(withinAnyPrefix("/var/log/x", ["/var/log/"]));
  assert.ok(withinAnyPrefix("/var/log/a/b", ["//var//log"]));
  assert.ok(!withinAnyPrefix("/var/logs", ["/var/log"]));
  assert.ok(!withinAnyPrefix("/var/logs/x", ["/var/log/"]));
  assert.ok(!withinAnyPrefix("/var", ["/var/log"]));
  assert.ok(withinAnyPrefix("/anything", ["/"]));
  assert.ok(withinAnyPrefix("/data/x", ["/tmp", "/data"]));
});

test("a program is checked and sent normalised; relative or outside the globs is forbidden", () => {
  assert.equal(authorizeProgram("/usr/bin/../bin/uptime", ["/usr/bin/*"], "vm1"), "/usr/bin/uptime");
  assert.equal(authorizeProgram("//bin//sh", ["/bin/sh"], "vm1"), "/bin/sh");
  assert.match(
    forbidden(() => authorizeProgram("/usr/bin/../../bin/sh", ["/usr/bin/*"], "vm1")),
    /\/bin\/sh/,
  );
  assert.match(
    forbidden(() => authorizeProgram("uptime", ["/usr/bin/*"], "vm1")),
    /absolute path/,
  );
  forbidden(() => authorizeProgram("/usr/bin/uptime", [], "vm1"));
  // Without exec restrictions the policy alone decides: a bare name goes to the guest's PATH lookup.
  assert.equal(authorizeProgram("uptime", undefined, "vm1"), "uptime");
  assert.equal(authorizeProgram("/bin/./sh", undefined, "vm1"), "/bin/sh");
});

test("a file path is checked and sent normalised; traversal out of a prefix is forbidden", () => {
  assert.equal(authorizeFile("/data/./a//b", ["/data"], "vm1"), "/data/a/b");
  assert.match(
    forbidden(() => authorizeFile("/data/../etc/shadow", ["/data"], "vm1")),
    /\/etc\/shadow/,
  );
  forbidden(() => authorizeFile("/tmp/../etc/shadow", ["/tmp"], "vm1"));
  forbidden(() => authorizeFile("/datax/y", ["/data"], "vm1"));
  forbidden(() => authorizeFile("data/y", ["/data"], "vm1"));
  assert.equal(authorizeFile("notes.txt", undefined, "vm1"), "notes.txt");
});

test("a path argument with a NUL is refused before any check", () => {
  const result = argPath().safeParse("/data/ok\u0000/../../etc/shadow");
  assert.equal(result.success, false);
  assert.equal(argPath().safeParse("").success, false);
  assert.equal(argPath().safeParse("/data/ok").success, true);
});
