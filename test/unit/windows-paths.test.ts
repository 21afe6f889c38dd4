import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { authorizeFile, authorizeProgram } from "../../src/commands/paths.js";
import { restrictionFor } from "../../src/commands/restrictions.js";
import {
  compileWindowsGlob,
  foldAscii,
  matchesAnyWindowsGlob,
  normaliseWindowsPath,
  withinAnyWindowsPrefix,
} from "../../src/commands/windows-paths.js";
import { Restrictions } from "../../src/config/command-policy.js";
import { WorkerError } from "../../src/errors.js";

function forbidden(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WorkerError, String(error));
    assert.equal(error.code, "forbidden");
    return error.message;
  }
  assert.fail("expected forbidden");
}

const FILES = ["C:\\Users\\Public\\Docs"];
const file = (path: string) => authorizeFile(path, FILES, "win", "windows");

test("normalisation: drive letter upper case, either separator, . and .. resolved, case kept", () => {
  const cases: Array<[string, string]> = [
    ["C:\\Users\\Public", "C:\\Users\\Public"],
    ["c:/users/public", "C:\\users\\public"],
    ["C:\\Users/Public\\\\Docs//", "C:\\Users\\Public\\Docs"],
    ["C:\\Users\\.\\Public\\..\\Public\\x", "C:\\Users\\Public\\x"],
    ["C:\\..\\..\\Windows", "C:\\Windows"],
    ["C:\\", "C:\\"],
    ["c:/", "C:\\"],
    ["C:\\a\\b\\..\\..\\..", "C:\\"],
    ["D:\\Data\\Résumé.txt", "D:\\Data\\Résumé.txt"],
    ["C:\\a.b\\.hidden", "C:\\a.b\\.hidden"],
  ];
  for (const [given, expected] of cases) {
    const result = normaliseWindowsPath(given);
    assert.deepEqual(result, { ok: true, path: expected }, given);
  }
});

test("every way Windows reads a path differently from how it is written is refused, with the reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["\\\\server\\share\\Users\\Public\\Docs\\x", /UNC/],
    ["//server/share/x", /UNC/],
    ["\\/server\\share", /UNC/],
    ["\\\\?\\C:\\Users\\Public\\Docs\\x", /device or namespace/],
    ["\\\\.\\C:\\Users\\Public\\Docs\\x", /device or namespace/],
    ["//?/C:/Users/Public/Docs/x", /device or namespace/],
    ["\\\\.\\PhysicalDrive0", /device or namespace/],
    ["\\??\\C:\\Users\\Public\\Docs\\x", /NT namespace/],
    ["/??/C:/Users/Public/Docs/x", /NT namespace/],
    ["C:\\Users\\Public\\DOCS~1\\x", /8\.3/],
    ["C:\\PROGRA~1\\x", /8\.3/],
    ["C:\\Users\\Public\\Docs\\NOTE~12.TXT", /8\.3/],
    ["C:\\Users\\Public\\Docs\\note.txt:stream", /alternate data stream/],
    ["C:\\Users\\Public\\Docs\\note.txt::$DATA", /alternate data stream/],
    ["C:\\Users\\Public\\Docs:$I30:$INDEX_ALLOCATION\\x", /alternate data stream/],
    ["C:\\Users\\Public\\Docs\\secret.txt.", /dot or a space/],
    ["C:\\Users\\Public\\Docs\\secret.txt ", /dot or a space/],
    ["C:\\Users\\Public\\Docs. \\x", /dot or a space/],
    ["C:\\Users\\Public\\Docs\\...", /dot or a space/],
    ["C:\\Users\\Public\\Docs\\CON", /reserved device/],
    ["C:\\Users\\Public\\Docs\\con", /reserved device/],
    ["C:\\Users\\Public\\Docs\\NUL.txt", /reserved device/],
    ["C:\\Users\\Public\\Docs\\nul .txt", /reserved device/],
    ["C:\\Users\\Public\\Docs\\COM1", /reserved device/],
    ["C:\\Users\\Public\\Docs\\com9.log", /reserved device/],
    ["C:\\Users\\Public\\Docs\\LPT1", /reserved device/],
    ["C:\\Users\\Public\\Docs\\COM¹", /reserved device/],
    ["C:\\Users\\Public\\Docs\\AUX.tar.gz", /reserved device/],
    ["C:\\Users\\Public\\Docs\\PRN", /reserved device/],
    ["C:\\Users\\Public\\Docs\\CONIN$", /reserved device/],
    ["C:Users\\Public\\Docs\\x", /drive-relative/],
    ["C:", /drive-relative/],
    ["\\Users\\Public\\Docs\\x", /without a drive letter/],
    ["/Users/Public/Docs/x", /without a drive letter/],
    ["Users\\Public\\Docs\\x", /relative/],
    [".\\x", /relative/],
    ["..\\Windows", /relative/],
    ["1:\\x", /relative/],
    ["C:\\Users\\Public\\Docs\\a*b", /wildcards/],
    ["C:\\Users\\Public\\Docs\\a?b", /wildcards/],
    ["C:\\Users\\Public\\Docs\\a<b", /does not allow/],
    ["C:\\Users\\Public\\Docs\\a|b", /does not allow/],
    ["C:\\Users\\Public\\Docs\\a\u0001b", /does not allow/],
  ];
  for (const [path, why] of cases) {
    const result = normaliseWindowsPath(path);
    assert.equal(result.ok, false, path);
    if (!result.ok) assert.match(result.why, why, path);
    // The same through the restriction: forbidden, with the reason in the message.
    assert.match(
      forbidden(() => file(path)),
      why,
      path,
    );
    assert.match(
      forbidden(() => authorizeProgram(path, ["C:\\**"], "win", "windows")),
      why,
      path,
    );
  }
});

test("names that only look like the refused ones pass", () => {
  for (const path of [
    "C:\\Users\\Public\\Docs\\CONSOLE.txt",
    "C:\\Users\\Public\\Docs\\nulls",
    "C:\\Users\\Public\\Docs\\COM10",
    "C:\\Users\\Public\\Docs\\a~b.txt",
    "C:\\Users\\Public\\Docs\\.gitignore",
    "C:\\Users\\Public\\Docs\\file.tar.gz",
  ]) {
    assert.equal(file(path), path, path);
  }
});

test("files: whole-name prefixes, ASCII case folded, the path sent as normalised", () => {
  assert.equal(file("c:/users/public/docs/a.txt"), "C:\\users\\public\\docs\\a.txt");
  assert.equal(file("C:\\USERS\\PUBLIC\\DOCS"), "C:\\USERS\\PUBLIC\\DOCS");
  assert.match(
    forbidden(() => file("C:\\Users\\Public\\Docs2\\a.txt")),
    /restrictions: files/,
  );
  assert.match(
    forbidden(() => file("C:\\Users\\Public\\Docs\\..\\x")),
    /outside/,
  );
  assert.match(
    forbidden(() => file("D:\\Users\\Public\\Docs\\x")),
    /outside/,
  );
  // A non-ASCII letter is compared as written: NTFS might fold it, so it is refused, never wrongly allowed.
  assert.equal(withinAnyWindowsPrefix("C:\\Données\\x", ["C:\\Données"]), true);
  assert.equal(withinAnyWindowsPrefix("C:\\DONNÉES\\x", ["C:\\Données"]), false);
  // The Kelvin sign is not a K to NTFS: no match.
  assert.equal(withinAnyWindowsPrefix("C:\\\u212Aiosk\\x", ["C:\\kiosk"]), false);
  // A root prefix, and POSIX entries that never match a Windows path.
  assert.equal(withinAnyWindowsPrefix("D:\\x", ["d:\\"]), true);
  assert.equal(withinAnyWindowsPrefix("C:\\tmp\\x", ["/tmp"]), false);
});

test("exec: Windows globs match case-insensitively, * within a name, ** across names", () => {
  const globs = ["C:\\Windows\\System32\\cmd.exe", "C:\\Tools\\*.exe", "D:\\Apps\\**\\run.exe"];
  const program = (path: string) => authorizeProgram(path, globs, "win", "windows");
  assert.equal(program("c:/windows/system32/cmd.exe"), "C:\\windows\\system32\\cmd.exe");
  assert.equal(program("C:\\WINDOWS\\SYSTEM32\\CMD.EXE"), "C:\\WINDOWS\\SYSTEM32\\CMD.EXE");
  assert.equal(program("C:\\Tools\\report.exe"), "C:\\Tools\\report.exe");
  assert.equal(program("D:\\apps\\run.exe"), "D:\\apps\\run.exe");
  assert.equal(program("D:\\Apps\\a\\b\\RUN.EXE"), "D:\\Apps\\a\\b\\RUN.EXE");
  assert.match(
    forbidden(() => program("C:\\Tools\\sub\\x.exe")),
    /restrictions: exec/,
  );
  assert.match(
    forbidden(() => program("C:\\Tools\\report.bat")),
    /restrictions: exec/,
  );
  assert.match(
    forbidden(() => program("C:\\Windows\\System32\\cmd.exe.")),
    /dot or a space/,
  );
  assert.match(
    forbidden(() => program("cmd.exe")),
    /relative/,
  );
  assert.equal(compileWindowsGlob("C:\\").test("c:\\"), true);
  assert.equal(matchesAnyWindowsGlob("C:\\bin\\sh", ["/bin/sh"]), false);
  assert.throws(() => compileWindowsGlob("\\\\server\\share\\*.exe"), /UNC/);
});

test("an unknown flavour refuses every restricted path, naming the setting that fixes it", () => {
  for (const path of ["C:\\Users\\Public\\Docs\\a", "/tmp/a"]) {
    const message = forbidden(() => authorizeFile(path, FILES, "vm7", "unknown"));
    assert.match(message, /pathFlavour: windows or posix/);
    assert.match(message, /restrictions\.vms\.vm7/);
    assert.match(
      forbidden(() => authorizeProgram(path, ["/**"], "vm7", "unknown")),
      /not known yet/,
    );
  }
  // Without a restriction nothing is judged: the path goes as given.
  assert.equal(authorizeFile("C:\\x\\..\\y", undefined, "vm7", "unknown"), "C:\\x\\..\\y");
  assert.equal(authorizeFile("C:\\x\\..\\y", undefined, "vm7", "windows"), "C:\\x\\..\\y");
  // POSIX rules are unchanged, but for backslashes.
  assert.equal(
    authorizeFile("/tmp/allowed/../allowed/x", ["/tmp/allowed"], "vm7", "posix"),
    "/tmp/allowed/x",
  );
  assert.match(
    forbidden(() => authorizeFile("c:/tmp", ["/tmp"], "vm7", "posix")),
    /absolute paths/,
  );
  assert.match(
    forbidden(() => authorizeFile("C:\\tmp", ["/tmp"], "vm7", "posix")),
    /backslash/,
  );
  // Were the guest Windows after all (pathFlavour set wrongly), this would climb out of /tmp/allowed.
  const climb = "/tmp/allowed/..\\..\\Windows\\win.ini";
  assert.match(
    forbidden(() => authorizeFile(climb, ["/tmp/allowed"], "vm7", "posix")),
    /backslash/,
  );
  assert.match(
    forbidden(() => authorizeProgram(climb, ["/tmp/allowed/**"], "vm7", "posix")),
    /backslash/,
  );
});

test("config: pathFlavour and Windows entries are validated; the flavour falls through like the rest", () => {
  const parsed = Restrictions.parse({
    default: { files: ["/var/log"] },
    groups: { windows: { pathFlavour: "windows", files: ["C:\\Logs"] }, linux: { pathFlavour: "posix" } },
    vms: { pinned: { pathFlavour: "posix" } },
  });
  assert.deepEqual(restrictionFor(parsed, "w1", ["windows"]), {
    pathFlavour: "windows",
    files: ["C:\\Logs"],
  });
  assert.deepEqual(restrictionFor(parsed, "x", ["windows", "linux"]).pathFlavour, "auto");
  assert.deepEqual(restrictionFor(parsed, "pinned", ["windows"]).pathFlavour, "posix");
  assert.deepEqual(restrictionFor(parsed, "plain", []), { files: ["/var/log"] });
  const bad = (restriction: Record<string, unknown>) =>
    Restrictions.safeParse({ default: restriction })
      .error?.issues.map((i) => i.message)
      .join("; ") ?? "";
  assert.match(bad({ pathFlavour: "windows", files: ["/var/log"] }), /write it as C:\\…/);
  assert.match(bad({ pathFlavour: "posix", exec: ["C:\\x.exe"] }), /write it as \/…/);
  assert.match(bad({ files: ["\\\\server\\share"] }), /absolute path prefix/);
  assert.match(bad({ files: ["C:\\PROGRA~1"] }), /8\.3/);
  assert.match(bad({ exec: ["C:\\Tools\\x.exe:s"] }), /alternate data stream/);
  assert.match(bad({ pathFlavour: "dos" }), /expected one of|Invalid option/i);
  assert.equal(bad({ exec: ["C:\\Tools\\*.exe", "/usr/bin/uptime"], files: ["c:/Logs/"] }), "");
});

// Property tests: whatever a requester writes, what is allowed lies within the prefix as Windows reads it.
const name = fc.stringMatching(/^[A-Za-z0-9 ._~:$-]{1,8}$/);
const separator = fc.constantFrom("\\", "/");
const pathArb = fc
  .tuple(
    fc.constantFrom("C:", "c:", "D:", "", "\\\\srv", "\\\\?\\C:", "C"),
    fc.array(fc.tuple(separator, fc.oneof(name, fc.constantFrom("..", ".", "Users", "Public", "Docs"))), {
      maxLength: 8,
    }),
  )
  .map(([head, parts]) => head + parts.map(([sep, part]) => sep + part).join(""));

test("property: an allowed path is its own normal form, inside the prefix, and free of refused names", () => {
  fc.assert(
    fc.property(pathArb, (path) => {
      let allowed: string;
      try {
        allowed = file(path);
      } catch (error) {
        assert.ok(error instanceof WorkerError && error.code === "forbidden");
        return;
      }
      const folded = foldAscii(allowed);
      assert.ok(folded === "c:\\users\\public\\docs" || folded.startsWith("c:\\users\\public\\docs\\"));
      assert.deepEqual(normaliseWindowsPath(allowed), { ok: true, path: allowed });
      for (const segment of allowed.slice(3).split("\\")) {
        assert.ok(segment !== ".." && segment !== "." && segment !== "");
        assert.doesNotMatch(segment, /[:*?]|[. ]$|~\d/);
      }
    }),
    { numRuns: 2000 },
  );
});

test("property: normalising is idempotent and never leaves a separator other than one backslash", () => {
  fc.assert(
    fc.property(pathArb, (path) => {
      const once = normaliseWindowsPath(path);
      if (!once.ok) return;
      assert.deepEqual(normaliseWindowsPath(once.path), once);
      assert.doesNotMatch(once.path, /\/|\\\\/);
      assert.match(once.path, /^[A-Z]:\\/);
    }),
    { numRuns: 2000 },
  );
});
