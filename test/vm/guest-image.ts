// The test guest: a Debian kernel and an initramfs running qemu-ga, built (and cached) by build-guest.sh; the
// programs it needs on the host; the scratch disk a VM may carry.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { errorMessage } from "./util.js";

const execFileAsync = promisify(execFile);
const BUILD_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "build-guest.sh");

export interface GuestImage {
  dir: string;
  kernel: string;
  initrd: string;
}

// Directories searched besides PATH: a non-root user's or CI's PATH often lacks the sbin ones.
const EXTRA_BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The absolute path of a program, or undefined. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let guestBuild: Promise<GuestImage> | undefined;

/**
 * Builds the guest once per process (build-guest.sh is itself cached on disk, ~10 ms when built). The build
 * may install Debian packages, qemu-system-x86 among them, so call it before deciding QEMU is missing.
 */
export function buildGuest(): Promise<GuestImage> {
  guestBuild ??= (async () => {
    // A cold build downloads a 70 MB kernel package and may apt-get install QEMU: minutes on a slow mirror.
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync("bash", [BUILD_SCRIPT], {
        timeout: 15 * 60_000,
        maxBuffer: 1 << 22,
      }));
    } catch (err) {
      // Its last stderr lines say why (apt output above them is noise in a test report).
      const stderr = (err as { stderr?: unknown }).stderr;
      const tail = typeof stderr === "string" ? stderr.trim().split("\n").slice(-4).join(" | ") : "";
      throw new Error(`build-guest.sh failed: ${tail || errorMessage(err)}`);
    }
    const dir = stdout.trim().split("\n").at(-1) ?? "";
    // vmlinux (PVH entry, no in-guest decompression) boots in half the time of the bzImage under TCG.
    const vmlinux = path.join(dir, "vmlinux");
    const kernel = existsSync(vmlinux) ? vmlinux : path.join(dir, "vmlinuz");
    const image = { dir, kernel, initrd: path.join(dir, "initrd.img") };
    if (!existsSync(image.kernel) || !existsSync(image.initrd)) {
      throw new Error(`build-guest.sh printed ${JSON.stringify(dir)}, which holds no vmlinuz/initrd.img`);
    }
    return image;
  })();
  // A failed build is not remembered: a later caller retries it.
  guestBuild.catch(() => {
    guestBuild = undefined;
  });
  return guestBuild;
}

/**
 * Why tiny VMs cannot run here, or undefined when they can. Tries the guest build first, since it installs
 * QEMU when it can.
 */
export async function vmSupportProblem(): Promise<string | undefined> {
  try {
    await buildGuest();
  } catch (err) {
    return `the test guest could not be built: ${errorMessage(err)}`;
  }
  return findProgram("qemu-system-x86_64") ? undefined : "qemu-system-x86_64 is not installed";
}

/** A sparse ext4 image, made without root (mkfs.ext4 works on a plain file). */
export async function createDisk(file: string, sizeMiB = 16): Promise<void> {
  const mkfs = findProgram("mkfs.ext4");
  if (!mkfs) throw new Error("mkfs.ext4 not found (Debian package e2fsprogs)");
  const handle = await open(file, "w");
  try {
    await handle.truncate(sizeMiB * 1024 * 1024);
  } finally {
    await handle.close();
  }
  // nodiscard: discarding a fresh sparse file is pointless work.
  await execFileAsync(mkfs, ["-F", "-q", "-L", "data", "-E", "nodiscard", file]);
}
