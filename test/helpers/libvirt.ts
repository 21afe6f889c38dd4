// A real libvirtd and transient libvirt domains booting the tiny test guest (test/vm), for tests of the
// libvirt RPC client. Everything here drives libvirt through virsh, independently of src/libvirt.

import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
} from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { buildGuest, vmSupportProblem } from "../vm/test-vm.js";
import { findTool, skipWithout } from "./tools.js";
import { waitUntil } from "./wait.js";

const execFileAsync = promisify(execFile);

/** The URI the libvirt tests use: $QGA_MQTT_TEST_LIBVIRT_URI, else the system daemon. */
export function libvirtTestUri(): string {
  return process.env.QGA_MQTT_TEST_LIBVIRT_URI ?? "qemu:///system";
}

/** For `test(..., { skip: skipWithoutLibvirt() })`: the daemons, virsh and QEMU must be installed. */
export function skipWithoutLibvirt(): false | string {
  return skipWithout("virsh", "libvirtd", "virtlogd", "qemu-system-x86_64");
}

export async function virsh(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileAsync(findTool("virsh") ?? "virsh", ["-c", libvirtTestUri(), ...args], {
    timeout: timeoutMs,
  });
  return stdout;
}

async function answers(): Promise<boolean> {
  try {
    // `uri` needs only the connection; `version` also fails while no QEMU is installed.
    await virsh(["uri"], 5000);
    return true;
  } catch {
    return false;
  }
}

/**
 * Debian sets /dev/kvm to root:kvm 0660 through udev; a machine without udev leaves it root:root 0600.
 * Then libvirt finds KVM usable when probing QEMU (as root) but not for its qemu user, takes its cached
 * capabilities for stale and probes QEMU again before every domain start: ~50 s per `virsh create` here,
 * against 0.5 s with Debian's permissions. Domains of type 'qemu' use TCG either way.
 */
function fixKvmPermissions(): void {
  if (process.getuid?.() !== 0 || !existsSync("/dev/kvm")) return;
  const stat = statSync("/dev/kvm");
  if ((stat.mode & 0o060) === 0o060 && stat.gid !== 0) return;
  const kvmGroup = readFileSync("/etc/group", "utf8")
    .split("\n")
    .map((line) => line.split(":"))
    .find(([name]) => name === "kvm");
  const gid = Number(kvmGroup?.[2]);
  if (!Number.isInteger(gid)) return;
  chownSync("/dev/kvm", 0, gid);
  chmodSync("/dev/kvm", 0o660);
}

let started: Promise<void> | undefined;

/**
 * Makes sure libvirtd answers on the test URI: when it does not, starts virtlogd and libvirtd as daemons
 * (there is no systemd here) and waits until the socket answers. They are left running for later tests.
 */
export function ensureLibvirtd(): Promise<void> {
  started ??= (async () => {
    fixKvmPermissions();
    if (await answers()) return;
    if (process.getuid?.() !== 0) throw new Error("libvirtd is not running, and only root can start it");
    for (const daemon of ["virtlogd", "libvirtd"]) {
      const binary = findTool(daemon);
      if (!binary) throw new Error(`${daemon} is not installed (Debian: libvirt-daemon-system)`);
      // -d forks into the background; a second instance exits at once on the pid file's lock: harmless.
      await new Promise<void>((resolve) => {
        const child = spawn(binary, ["-d"], { stdio: "ignore" });
        child.on("exit", () => resolve());
        child.on("error", () => resolve());
      });
    }
    await waitUntil("libvirtd did not answer", 30_000, answers);
  })();
  started.catch(() => {
    started = undefined;
  });
  return started;
}

/** Why libvirt domains cannot run here, or undefined. */
export async function libvirtDomainProblem(): Promise<string | undefined> {
  const problem = await vmSupportProblem();
  if (problem) return problem;
  try {
    await ensureLibvirtd();
  } catch (err) {
    return `libvirtd: ${(err as Error).message}`;
  }
  return undefined;
}

let sharedImage: Promise<{ kernel: string; initrd: string }> | undefined;

/**
 * The guest's kernel and initrd where libvirt's qemu user can read them: /work may not be traversable by
 * it. One folder per image (named by its path), 0755, files 0644.
 */
function guestImageForLibvirt(): Promise<{ kernel: string; initrd: string }> {
  sharedImage ??= (async () => {
    const image = await buildGuest();
    const tag = createHash("sha256").update(image.dir).digest("hex").slice(0, 12);
    const dir = path.join(os.tmpdir(), `qga-mqtt-libvirt-guest-${tag}`);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const copy = (source: string): string => {
      const target = path.join(dir, path.basename(source));
      if (!existsSync(target) || statSync(target).size !== statSync(source).size) {
        const partial = `${target}.${process.pid}.partial`;
        copyFileSync(source, partial);
        chmodSync(partial, 0o644);
        renameSync(partial, target);
      }
      return target;
    };
    return { kernel: copy(image.kernel), initrd: copy(image.initrd) };
  })();
  sharedImage.catch(() => {
    sharedImage = undefined;
  });
  return sharedImage;
}

export interface LibvirtTestDomain {
  readonly name: string;
  readonly dir: string;
  readonly consoleLog: string;
  /** From `virsh create` to the first guest-ping answered through libvirt. */
  readonly bootToAgentMs: number;
  /** The console's last lines, for assertion messages. */
  consoleTail(): Promise<string>;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function domainXml(options: {
  name: string;
  kernel: string;
  initrd: string;
  consoleLog: string;
  hostname: string;
  memoryMiB?: number;
  agentChannel?: boolean;
}): string {
  return `<domain type='qemu'>
  <name>${escapeXml(options.name)}</name>
  <memory unit='MiB'>${options.memoryMiB ?? 256}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${escapeXml(options.kernel)}</kernel>
    <initrd>${escapeXml(options.initrd)}</initrd>
    <cmdline>console=ttyS0 quiet qga_hostname=${escapeXml(options.hostname)}</cmdline>
  </os>
  <!-- Without <acpi/> libvirt starts QEMU with acpi=off, and the guest's poweroff only halts the CPU. -->
  <features><acpi/></features>
  <cpu mode='maximum'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='${escapeXml(options.consoleLog)}'/><target port='0'/></serial>
    ${options.agentChannel === false ? "" : "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"}
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** Resolves when libvirt passes a guest-ping to the domain's agent and gets its answer. */
export async function waitForAgentThroughVirsh(name: string, timeoutMs: number): Promise<void> {
  await waitUntil(`the guest agent of ${name} did not answer through libvirt`, timeoutMs, async () => {
    try {
      await virsh(["qemu-agent-command", "--timeout", "2", name, '{"execute":"guest-ping"}'], 10_000);
      return true;
    } catch {
      return false;
    }
  });
}

/** Where a helper registers its clean-up: a TestContext, or a list a `before` hook drains in `after`. */
export interface Cleanup {
  after(fn: () => Promise<void>): void;
}

interface DomainOptions {
  memoryMiB?: number;
  agentTimeoutMs?: number;
  /** Defined, then started: it stays defined (shut off) after a shutdown. Default: transient. */
  persistent?: boolean;
  /** Default true: the guest-agent channel in the XML. */
  agentChannel?: boolean;
}

async function prepareDomain(cleanup: Cleanup, label: string, options: DomainOptions) {
  await ensureLibvirtd();
  const image = await guestImageForLibvirt();
  const safe = label.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 30) || "vm";
  const name = `qga-mqtt-test-${safe}-${randomBytes(3).toString("hex")}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-mqtt-libvirt-"));
  // The qemu user writes the console file here.
  await chmod(dir, 0o755);
  const consoleLog = path.join(dir, "console.log");
  const xmlFile = path.join(dir, "domain.xml");
  await writeFile(xmlFile, domainXml({ name, ...image, consoleLog, hostname: safe, ...options }));
  cleanup.after(async () => {
    await virsh(["destroy", name]).catch(() => undefined);
    await virsh(["undefine", name]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return { name, dir, consoleLog, xmlFile };
}

/**
 * A domain booting the test guest, transient (gone once destroyed) unless `persistent`; resolves when its
 * agent answers through libvirt. `cleanup.after` destroys (and undefines) it. Names are
 * `qga-mqtt-test-<label>-<random>`.
 */
export async function startLibvirtDomain(
  cleanup: Cleanup,
  label: string,
  options: DomainOptions = {},
): Promise<LibvirtTestDomain> {
  const { name, dir, consoleLog, xmlFile } = await prepareDomain(cleanup, label, options);
  const consoleTail = async (): Promise<string> =>
    (await readFile(consoleLog, "utf8").catch(() => "")).split("\n").slice(-15).join("\n");

  const startedAt = performance.now();
  if (options.persistent) {
    await virsh(["define", xmlFile]);
    await virsh(["start", name], 120_000);
  } else {
    await virsh(["create", xmlFile], 120_000);
  }
  try {
    await waitForAgentThroughVirsh(name, options.agentTimeoutMs ?? 60_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}; console:\n${await consoleTail()}`);
  }
  return { name, dir, consoleLog, bootToAgentMs: performance.now() - startedAt, consoleTail };
}

/** A persistent domain defined but not started (no QEMU runs); resolves with its name. */
export async function defineLibvirtDomain(
  cleanup: Cleanup,
  label: string,
  options: DomainOptions = {},
): Promise<string> {
  const { name, xmlFile } = await prepareDomain(cleanup, label, options);
  await virsh(["define", xmlFile]);
  return name;
}
