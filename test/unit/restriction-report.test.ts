import assert from "node:assert/strict";
import { test } from "node:test";
import { describeRestriction, restrictionWarnings } from "../../src/commands/restriction-report.js";

test("an exec entry that allows a shell is flagged, POSIX and Windows alike", () => {
  assert.match(restrictionWarnings({ exec: ["/bin/*"] }).join("\n"), /allows \/bin\/sh/);
  assert.match(
    restrictionWarnings({ exec: ["C:\\Windows\\System32\\*.exe"] }).join("\n"),
    /allows C:\\Windows\\System32\\cmd\.exe/,
  );
  assert.match(
    restrictionWarnings({ exec: ["c:/program files/powershell/7/pwsh.exe"] }).join("\n"),
    /pwsh\.exe/,
    "case and separators as Windows reads them",
  );
  assert.match(restrictionWarnings({ exec: ["C:\\Tools\\*"] }).join("\n"), /C:\\Tools\\\*\.bat/);
  assert.match(restrictionWarnings({ exec: ["C:\\Tools\\deploy.cmd"] }).join("\n"), /\.bat/);
});

test("exact programs are not flagged", () => {
  assert.deepEqual(
    restrictionWarnings({ exec: ["/usr/bin/uptime", "C:\\Windows\\System32\\ipconfig.exe"] }),
    [],
  );
});

test("check-config's lines say how paths are read when a restriction is set", () => {
  assert.equal(describeRestriction({}).length, 2);
  assert.match(
    describeRestriction({ files: ["C:\\Logs"], pathFlavour: "windows" }).join("\n"),
    /paths: windows/,
  );
  assert.match(describeRestriction({ files: ["/var/log"] }).join("\n"), /paths: auto \(Windows or POSIX/);
});
