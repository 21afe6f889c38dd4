import { execFile } from "node:child_process";
import { copyFile, mkdir, readdir, stat, symlink } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

/**
 * What a fresh `git clone` of this working tree would hold: the files git tracks or would add (not the
 * ignored ones: no dist/, no node_modules/), each with its mode, as a clone checks them out. The
 * working tree's, not HEAD's, so that a change is tested before it is committed. `npm ci` is replaced by
 * links to the packages of this tree's node_modules (installed by `npm ci` from the same lock file; a real
 * `npm ci` takes minutes).
 */
export async function freshCopy(target: string): Promise<string> {
  const { stdout } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  const files = stdout.split("\0").filter(Boolean);
  for (const file of files) {
    const from = path.join(root, file);
    // A tracked file deleted in the working tree is not part of the next commit either.
    const info = await stat(from).catch(() => undefined);
    if (!info?.isFile()) continue;
    await mkdir(path.dirname(path.join(target, file)), { recursive: true });
    // copyFile keeps the mode, so the executable bit is what a clone would check out (core.fileMode).
    await copyFile(from, path.join(target, file));
  }
  // One link per package, not one for the folder: whatever npm does to the copy's node_modules (npx
  // installs into its cache, a prune) then changes the copy's links, never the shared installation.
  const modules = path.join(target, "node_modules");
  await mkdir(modules);
  for (const entry of await readdir(path.join(root, "node_modules"))) {
    await symlink(path.join(root, "node_modules", entry), path.join(modules, entry));
  }
  return target;
}

/** The environment for npm and npx in a test: a cache of its own, so the user's npx cache is never touched. */
export function npmEnv(cache: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // Variables npm sets for a script it runs (`npm test`) would steer the npm the test starts.
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) env[key] = value;
  }
  return {
    ...env,
    npm_config_cache: cache,
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
    ...extra,
  };
}
