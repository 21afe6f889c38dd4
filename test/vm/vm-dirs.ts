// The folder of one test VM (sockets, console log, disk): made fresh under the OS tmpdir, or the caller's;
// folders of test processes that died without cleaning up are swept away.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { vmFiles } from "./qemu-args.js";

// sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH = 107;
const TEMP_PREFIX = "qga-vm-";
const OWNER_FILE = "owner.pid";
let swept: Promise<void> | undefined;

/**
 * Removes temp folders left by test processes that died without stop() (killed by a runner's timeout: their
 * QEMU died with them, see --pdeathsig). Once per process; a folder whose owner still runs is kept.
 */
function sweepStaleVmDirs(): Promise<void> {
  swept ??= (async () => {
    const tmp = os.tmpdir();
    for (const entry of await readdir(tmp)) {
      if (!entry.startsWith(TEMP_PREFIX)) continue;
      const dir = path.join(tmp, entry);
      try {
        const owner = Number.parseInt(await readFile(path.join(dir, OWNER_FILE), "utf8"), 10);
        if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
        await rm(dir, { recursive: true, force: true });
      } catch {
        // No owner file (being created, or not ours): leave it alone.
      }
    }
  })();
  return swept;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The VM's folder: `dir` (created if missing; owned, so removed by stop(), only if it was missing), or a new
 * one under the OS tmpdir named after the VM, with an owner file for the sweep. Throws when socket paths
 * in it would be too long for a Unix socket.
 */
export async function createVmDir(
  safeName: string,
  dir?: string,
): Promise<{ dir: string; ownsDir: boolean }> {
  let made: { dir: string; ownsDir: boolean };
  if (dir) {
    const resolved = path.resolve(dir);
    made = { dir: resolved, ownsDir: !existsSync(resolved) };
    await mkdir(resolved, { recursive: true });
  } else {
    await sweepStaleVmDirs();
    made = { dir: await mkdtemp(path.join(os.tmpdir(), `${TEMP_PREFIX}${safeName}-`)), ownsDir: true };
    await writeFile(path.join(made.dir, OWNER_FILE), String(process.pid));
  }
  if (Buffer.byteLength(vmFiles(made.dir).qgaSocket) > MAX_SOCKET_PATH) {
    throw new Error(`socket paths under ${made.dir} exceed ${MAX_SOCKET_PATH} bytes: use a shorter dir`);
  }
  return made;
}
