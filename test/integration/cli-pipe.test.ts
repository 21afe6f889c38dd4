import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * Output into a pipe whose reader has gone (`qga-mqtt env | head -1`): what is left has no reader, so the
 * CLI ends quietly, exit 0, as `yes | head -1` does: no EPIPE stack trace.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-pipe-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** `qga-mqtt <args> | <reader>` in sh, a real pipe; the CLI's exit code and stderr are kept in files. */
async function piped(args: readonly string[], reader: string, name: string) {
  const cli = [process.execPath, "--import", "tsx", "src/main.ts", ...args].map(quote).join(" ");
  const errFile = path.join(dir, `${name}.stderr`);
  const codeFile = path.join(dir, `${name}.code`);
  const { stdout } = await run(
    "sh",
    ["-c", `{ ${cli} 2>"$1"; echo $? >"$2"; } | ${reader}`, "sh", errFile, codeFile],
    {
      cwd: root,
    },
  );
  return {
    stdout,
    code: Number((await readFile(codeFile, "utf8")).trim()),
    stderr: await readFile(errFile, "utf8"),
  };
}

test("qga-mqtt env | head -1: one line, then a quiet end", async () => {
  for (let i = 0; i < 3; i++) {
    const result = await piped(["env"], "head -1", `env-${i}`);
    assert.match(result.stdout, /^QGA_MQTT_\w+ {2}\(/);
    assert.equal(result.stdout.split("\n").filter(Boolean).length, 1);
    assert.equal(result.stderr, "", `run ${i}: stderr`);
    assert.equal(result.code, 0, `run ${i}: exit code`);
  }
});

test("qga-mqtt schema | head -1, and a reader that has already gone: a quiet end", async () => {
  const schema = await piped(["schema"], "head -1", "schema");
  assert.equal(schema.stdout, "{\n");
  assert.equal(schema.stderr, "");
  assert.equal(schema.code, 0);
  // `true` exits before the CLI has started: its first write finds the pipe closed, every time.
  for (const args of [["env"], ["schema"], ["--help"]]) {
    const gone = await piped(args, "true", `gone-${args[0]}`);
    assert.equal(gone.stderr, "", `${args[0]} | true: stderr`);
    assert.equal(gone.code, 0, `${args[0]} | true: exit code`);
  }
});
