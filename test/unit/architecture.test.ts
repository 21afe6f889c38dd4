import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

/**
 * The README's request path names files and functions; each must still be there, so that the path a
 * newcomer follows is the code's. A step is "`dir/file.ts` `Name`" or "`file.ts` `Class.method`"; a bare
 * file name is looked for in the folder named last in the same step.
 */
const readme = readFileSync("README.md", "utf8");
const section = readme.slice(
  readme.indexOf("**The path of one request**"),
  readme.indexOf("`qga/` is the guest-agent library"),
);

function stepsOf(text: string): { file: string; name: string }[] {
  const found: { file: string; name: string }[] = [];
  let folder = "";
  for (const match of text.matchAll(/`([\w./-]+\.ts)` `([#\w.]+)`/g)) {
    const given = match[1]!;
    const file = given.includes("/") ? given : path.posix.join(folder, given);
    folder = path.posix.dirname(file);
    found.push({ file, name: match[2]! });
  }
  return found;
}

test("the README's request path: every file and function it names exists", () => {
  const steps = stepsOf(section);
  assert.ok(steps.length >= 15, `only ${steps.length} steps read: has the section's format changed?`);
  for (const { file, name } of steps) {
    const source = path.join("src", file);
    assert.ok(existsSync(source), `${file} (named in the README's request path) does not exist`);
    const text = readFileSync(source, "utf8");
    for (const part of name.split(".")) {
      assert.match(
        text,
        new RegExp(`\\b${part.replace(/[#$]/g, "\\$&")}\\b|${part.replace("#", "\\#")}\\(`),
        `${file} has no ${part}`,
      );
    }
  }
});
