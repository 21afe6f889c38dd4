import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freshCopy, npmEnv } from "../helpers/fresh-copy.js";

/**
 * The README's form of every CLI example is `npx qga-mqtt ...`: it must work in a fresh clone right after
 * `npm ci` (no build), after `npm run build`, and the packed package (`npm pack`, `npm install -g`) must run
 * without the dev dependencies (no tsx).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
let dir: string;
let clone: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-npx-"));
  clone = await freshCopy(path.join(dir, "clone"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(file: string, args: readonly string[], cwd: string): Promise<Result> {
  try {
    const { stdout, stderr } = await run(file, [...args], {
      cwd,
      env: npmEnv(path.join(dir, "npm-cache")),
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test("npx qga-mqtt runs in a fresh clone right after npm ci, before any build", async () => {
  const help = await exec("npx", ["qga-mqtt", "--help"], clone);
  assert.equal(help.code, 0, `npx qga-mqtt --help: ${help.stderr}`);
  assert.match(help.stdout, /^qga-mqtt: /);
  assert.match(help.stdout, /qga-mqtt check-config/);
  const version = await exec("npx", ["qga-mqtt", "--version"], clone);
  assert.equal(version.code, 0, version.stderr);
  const pkg = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

test("the bin script is executable as git checks it out, and git keeps the mode", async () => {
  const pkg = JSON.parse(await readFile(path.join(clone, "package.json"), "utf8")) as {
    bin: Record<string, string>;
  };
  const bin = path.join(clone, pkg.bin["qga-mqtt"] ?? "");
  const info = await stat(bin);
  assert.ok((info.mode & 0o111) === 0o111, `${bin} is not executable (mode ${info.mode.toString(8)})`);
  assert.match(await readFile(bin, "utf8"), /^#!\/usr\/bin\/env node\n/);
  const { stdout } = await run("git", ["config", "--get", "core.fileMode"], { cwd: root }).catch(() => ({
    stdout: "true",
  }));
  assert.notEqual(stdout.trim(), "false", "core.fileMode is off: git would not record the executable bit");
});

test("npm pack builds first, and the packed package runs without tsx", async () => {
  // No `npm run build` before: prepack does it, so a package is never packed without its build.
  const packed = await exec("npm", ["pack", "--pack-destination", dir], clone);
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = (await readdir(dir)).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, `no tarball in ${dir}: ${packed.stdout}`);
  const installed = path.join(dir, "installed");
  await mkdir(installed);
  await run("tar", ["-xzf", path.join(dir, tarball), "-C", installed]);
  const pkgDir = path.join(installed, "package");
  // The production dependencies, without the dev ones (tsx, typescript): what `npm install -g` gives.
  const modules = path.join(pkgDir, "node_modules");
  await mkdir(modules);
  const dev = new Set(["tsx", "typescript", "@biomejs", "esbuild", "@esbuild", "get-tsconfig", ".bin"]);
  for (const entry of await readdir(path.join(root, "node_modules"))) {
    if (!dev.has(entry)) await symlink(path.join(root, "node_modules", entry), path.join(modules, entry));
  }
  const pkg = JSON.parse(await readFile(path.join(pkgDir, "package.json"), "utf8")) as {
    bin: Record<string, string>;
    files: string[];
  };
  const bin = path.join(pkgDir, pkg.bin["qga-mqtt"] ?? "");
  const probe = "import('tsx').then(() => process.exit(3), () => process.exit(0))";
  const noTsx = await exec(process.execPath, ["-e", probe], pkgDir);
  assert.equal(noTsx.code, 0, "tsx is reachable from the installed package: the test would prove nothing");
  // What npm's bin-links does on install: the bin is made executable.
  await chmod(bin, 0o755);
  const help = await exec(bin, ["--help"], pkgDir);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^qga-mqtt: /);
  const version = await exec(bin, ["--version"], os.tmpdir());
  assert.equal(version.code, 0, version.stderr);
});

test("after the build, npx qga-mqtt runs the build (the sources are not needed)", async () => {
  // Built by `npm pack` (prepack) in the test before.
  await stat(path.join(clone, "dist/src/main.js"));
  // Without src/, only the build can answer.
  await rename(path.join(clone, "src"), path.join(clone, "src.away"));
  try {
    const help = await exec("npx", ["qga-mqtt", "--help"], clone);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^qga-mqtt: /);
  } finally {
    await rename(path.join(clone, "src.away"), path.join(clone, "src"));
  }
});
