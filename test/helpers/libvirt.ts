// A real libvirtd and transient libvirt domains booting the tiny test guest (test/vm), for tests of the
// libvirt RPC client. Everything here drives libvirt through virsh, independently of src/libvirt.

import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  writeFileSync,
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

/** Whether the test URI is the system daemon this module starts when it is not running. */
function testUriIsSystem(): boolean {
  return process.env.QGA_MQTT_TEST_LIBVIRT_URI === undefined;
}

/** For `test(..., { skip: skipWithoutLibvirt() })`: the daemons, virsh and QEMU must be installed. */
export function skipWithoutLibvirt(): false | string {
  return skipWithout("virsh", "libvirtd", "virtlogd", "qemu-system-x86_64");
}

/** virsh on the test URI (or `uri`); resolves with its stdout, rejects with its stderr in the message. */
export async function virsh(args: string[], timeoutMs = 30_000, uri = libvirtTestUri()): Promise<string> {
  const { stdout } = await execFileAsync(findTool("virsh") ?? "virsh", ["-c", uri, ...args], {
    timeout: timeoutMs,
  });
  return stdout;
}

async function answers(uri = libvirtTestUri()): Promise<boolean> {
  try {
    // `uri` needs only the connection; `version` also fails while no QEMU is installed.
    await virsh(["uri"], 5000, uri);
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

/** A cgroup hierarchy mounted under /sys/fs/cgroup, from /proc/self/mountinfo. */
interface CgroupMount {
  readonly type: "cgroup" | "cgroup2";
  readonly mountPoint: string;
  /** The cgroup the mount shows as its top (mountinfo's root field; "/" outside cgroup namespaces). */
  readonly root: string;
  /** v1: its controllers and name= (the keys of /proc/self/cgroup); v2: none. */
  readonly controllers: readonly string[];
}

function cgroupMounts(): CgroupMount[] {
  // The kernel's controllers, first column of /proc/cgroups; a v1 mount's other options are not controllers.
  const known = new Set(
    readFileSync("/proc/cgroups", "utf8")
      .split("\n")
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => line.split("\t")[0]),
  );
  const mounts: CgroupMount[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [type, , options = ""] = right.split(" ");
    const root = fields[3];
    const mountPoint = fields[4]?.replace(/\\040/g, " ");
    if ((type !== "cgroup" && type !== "cgroup2") || !root || !mountPoint) continue;
    if (!mountPoint.startsWith("/sys/fs/cgroup")) continue;
    const controllers =
      type === "cgroup" ? options.split(",").filter((o) => known.has(o) || o.startsWith("name=")) : [];
    mounts.push({ type, mountPoint, root, controllers });
  }
  return mounts;
}

/** The folder of this process's own cgroup in a hierarchy, from /proc/self/cgroup. */
function ownCgroupDir(mount: CgroupMount): string | undefined {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, keys = "", cgroupPath = "/"] = match;
    const matches =
      mount.type === "cgroup2"
        ? keys === ""
        : keys !== "" && [...mount.controllers].sort().join(",") === keys.split(",").sort().join(",");
    if (!matches) continue;
    const relative = path.relative(mount.root, cgroupPath);
    if (relative.startsWith("..")) return undefined;
    return path.join(mount.mountPoint, relative);
  }
  return undefined;
}

/** The cgroup v1 cpuset hierarchy's mount, if there is one (cgroup v2's cpuset has no such problem). */
function cpusetV1Mount(): CgroupMount | undefined {
  return cgroupMounts().find((mount) => mount.type === "cgroup" && mount.controllers.includes("cpuset"));
}

/**
 * libvirt without systemd puts every domain under the partition `machine` of each cgroup v1 hierarchy (at
 * the top of the hierarchy as libvirtd sees it), creating it with the first domain. In the cpuset
 * hierarchy a new cgroup starts with empty cpuset.cpus and cpuset.mems, and a process cannot join a cgroup
 * with an empty cpuset (ENOSPC). libvirt copies both from the parent right after its mkdir; but a domain
 * that starts while `machine` exists and is still empty (another domain's start created it and has not
 * copied yet, or anything else left it so) copies the empty values down to its own cgroups and fails:
 * "Unable to write to '.../cpuset/machine/qemu-2-....libvirt-qemu/emulator/tasks': No space left on
 * device". Creating `machine` here and filling its cpuset from its parent before the first domain leaves
 * libvirt nothing to race on. Idempotent; values already set are kept. Returns what it changed.
 */
export function fillMachineCpuset(top: string): string[] {
  const machine = path.join(top, "machine");
  const changed: string[] = [];
  if (!existsSync(machine)) {
    try {
      mkdirSync(machine);
      changed.push(`created ${machine}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  // cpus first: the kernel takes either alone, and a task may join only once both are set.
  for (const key of ["cpuset.cpus", "cpuset.mems"]) {
    const file = path.join(machine, key);
    if (readFileSync(file, "utf8").trim() !== "") continue;
    const value = readFileSync(path.join(top, key), "utf8").trim();
    writeFileSync(file, value);
    changed.push(`${file} = ${value} (from ${top})`);
  }
  return changed;
}

/** Where libvirtd's cpuset partition goes for the system daemon, when it is this module's to prepare. */
function systemMachineCpusetTop(): string | undefined {
  // With systemd, libvirt asks machined for a scope under machine.slice: nothing of this applies.
  if (process.getuid?.() !== 0 || existsSync("/run/systemd/system")) return undefined;
  return cpusetV1Mount()?.mountPoint;
}

let started: Promise<void> | undefined;

/**
 * Makes sure libvirtd answers on the test URI: when it does not, starts virtlogd and libvirtd as daemons
 * (there is no systemd here) and waits until the socket answers. They are left running for later tests.
 * Before any domain starts, the machine cgroup's cpuset is filled (see fillMachineCpuset): on a machine
 * where libvirtd never ran, the first domains started at once could otherwise fail.
 */
export function ensureLibvirtd(): Promise<void> {
  started ??= (async () => {
    fixKvmPermissions();
    const top = testUriIsSystem() ? systemMachineCpusetTop() : undefined;
    if (top) fillMachineCpuset(top);
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
    await waitUntil("libvirtd did not answer", 30_000, () => answers());
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

/** A libvirtd of a test's own, in the state of a machine where libvirtd never ran (see startPrivateLibvirtd). */
export interface PrivateLibvirtd {
  /** `qemu+unix:///system?socket=...`: for virsh, DomainOptions.uri and the worker's discovery.libvirt.uri. */
  readonly uri: string;
  /** Its folders (run, lib, cache, log, etc, sock), which it sees as /run/libvirt, /var/lib/libvirt, .... */
  readonly dir: string;
  /** The cpuset folder it sees as the top of the cgroup v1 cpuset hierarchy (its `machine` goes there). */
  readonly cpusetTop: string | undefined;
  /** What the preparation changed before it started (fillMachineCpuset). */
  readonly prepared: readonly string[];
  /** The last lines of its libvirtd.log, for assertion messages. */
  logTail(): string;
  /** Destroys its domains, stops it and its virtlogd (by pid), removes its cgroups and folders. */
  stop(): Promise<void>;
}

export interface PrivateLibvirtdOptions {
  /**
   * Create its `machine` cpuset cgroup with an empty cpuset before it starts: the state in which a domain
   * start that races with the one creating `machine` finds it (see fillMachineCpuset), made certain.
   */
  emptyMachineCpuset?: boolean;
}

/** Why a libvirtd of the tests' own cannot run here, or undefined. */
export function privateLibvirtdProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "a libvirtd of the tests' own needs root";
  // With systemd, libvirtd registers domains with systemd-machined, outside any cgroup namespace.
  if (existsSync("/run/systemd/system"))
    return "systemd runs here: a libvirtd of the tests' own would use its cgroups";
  const missing = ["unshare", "mount", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64"].filter(
    (tool) => !findTool(tool),
  );
  if (missing.length > 0) return `needs ${missing.join(", ")}`;
  if (cgroupMounts().length === 0) return "no cgroup hierarchy is mounted under /sys/fs/cgroup";
  return undefined;
}

// Run as root by startPrivateLibvirtd: joins the cgroups given as arguments, then, in a mount and cgroup
// namespace of its own, mounts what $dir/mounts lists and starts virtlogd and libvirtd there. Both fork
// into the background and stay in those namespaces; this script ends.
const LAUNCHER = `set -euo pipefail
dir=$1; shift
for cgroup in "$@"; do echo $$ > "$cgroup/cgroup.procs"; done
exec unshare --mount --cgroup --propagation private bash -euo pipefail -c '
  dir=$1
  while read -r kind target source options; do
    case $kind in
      tmpfs) mount -t tmpfs -o "$options" tmpfs "$target" ;;
      cgroup | cgroup2) mkdir -p "$target"; mount -t "$kind" -o "$options" "$kind" "$target" ;;
      # A folder missing where libvirtd never ran (/run/libvirt) is created, empty, on the host.
      bind) mkdir -p "$target"; mount --bind "$source" "$target" ;;
    esac
  done < "$dir/mounts"
  "$VIRTLOGD" -d -p "$dir/virtlogd.pid"
  "$LIBVIRTD" -d -p "$dir/libvirtd.pid"
' bash "$dir"
`;

function processGone(pid: number): boolean {
  try {
    // A daemon's parent is init, which may not reap it in a container: a zombie has ended too.
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/** rmdir of a cgroup and all below it, deepest first; a cgroup whose last task is exiting may be busy. */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeCgroupTree(path.join(dir, entry.name));
  }
  await waitUntil(`cgroup ${dir} stayed busy`, 10_000, async () => {
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return true;
      if (code === "EBUSY") return false;
      throw err;
    }
  });
}

/**
 * A libvirtd (and virtlogd) of the test's own, in the state of a machine where libvirtd never ran: fresh
 * runtime, state, cache and log folders (a temporary folder bind-mounted over /run/libvirt,
 * /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt in a mount namespace of its own), the system's
 * configuration files (/etc/libvirt/*.conf, not its domains or networks) with the socket in that folder,
 * and in a cgroup namespace rooted at fresh cgroups below this process's own, so that it creates its
 * `machine` cgroups as on a machine where they never existed. Prepared as ensureLibvirtd prepares the
 * system daemon (fillMachineCpuset), then started; resolves once it answers. The system daemon, its
 * domains and cgroups are not touched. `cleanup.after` stops it.
 */
export async function startPrivateLibvirtd(
  cleanup: Cleanup,
  options: PrivateLibvirtdOptions = {},
): Promise<PrivateLibvirtd> {
  const problem = privateLibvirtdProblem();
  if (problem) throw new Error(problem);
  fixKvmPermissions();
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-mqtt-libvirtd-"));
  const tag = path.basename(dir);
  const cgroups: string[] = [];
  let daemons: Array<{ name: string; pidFile: string }> = [];
  const uri = `qemu+unix:///system?socket=${path.join(dir, "sock", "libvirt-sock")}`;
  const stop = async (): Promise<void> => {
    const running = await virsh(["list", "--name"], 10_000, uri).catch(() => "");
    for (const name of running.split("\n").filter(Boolean)) {
      await virsh(["destroy", name], 30_000, uri).catch(() => undefined);
    }
    for (const { name, pidFile } of daemons) {
      const pid = Number(existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "");
      if (!Number.isInteger(pid) || pid <= 1) continue;
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        continue;
      }
      await waitUntil(`${name} (pid ${pid}) did not exit`, 15_000, async () => processGone(pid));
    }
    daemons = [];
    for (const cgroup of cgroups.reverse()) await removeCgroupTree(cgroup);
    await rm(dir, { recursive: true, force: true });
  };
  cleanup.after(stop);

  for (const sub of ["run", "lib", "cache", "log", "etc", "sock"]) mkdirSync(path.join(dir, sub));
  // libvirt's qemu user reaches the channel sockets and its state through these.
  chmodSync(dir, 0o755);
  for (const sub of ["run", "lib", "cache", "log", "sock"]) chmodSync(path.join(dir, sub), 0o755);
  // The configuration files only: the system's domains, networks and pools are not this daemon's.
  for (const entry of readdirSync("/etc/libvirt", { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".conf")) {
      copyFileSync(path.join("/etc/libvirt", entry.name), path.join(dir, "etc", entry.name));
    }
  }
  const conf = path.join(dir, "etc", "libvirtd.conf");
  const kept = existsSync(conf)
    ? readFileSync(conf, "utf8")
        .split("\n")
        .filter((line) => !/^\s*unix_sock_dir\s*=/.test(line))
    : [];
  writeFileSync(conf, [...kept, `unix_sock_dir = "${path.join(dir, "sock")}"`, ""].join("\n"));

  // Fresh cgroups below this process's own, one per hierarchy, which the namespace shows as the top.
  const mountLines: string[] = [];
  const mounts = cgroupMounts();
  const tmpfsTop = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => / \/sys\/fs\/cgroup .* - tmpfs /.test(line));
  if (tmpfsTop) mountLines.push("tmpfs /sys/fs/cgroup - mode=755");
  let cpusetTop: string | undefined;
  for (const mount of mounts) {
    const own = ownCgroupDir(mount);
    if (!own) throw new Error(`this process's cgroup is outside ${mount.mountPoint}`);
    const mine = path.join(own, tag);
    mkdirSync(mine);
    cgroups.push(mine);
    if (mount.type === "cgroup" && mount.controllers.includes("cpuset")) {
      // A task may join a cpuset cgroup only once its cpus and mems are set: the same as ours.
      for (const key of ["cpuset.cpus", "cpuset.mems"]) {
        writeFileSync(path.join(mine, key), readFileSync(path.join(own, key), "utf8").trim());
      }
      cpusetTop = mine;
      if (options.emptyMachineCpuset) mkdirSync(path.join(mine, "machine"));
    }
    // The same hierarchy (v1: by its controllers or name), mounted anew: in the namespace its top is `mine`.
    const mountOptions = mount.type === "cgroup" ? ["rw", ...mount.controllers].join(",") : "rw";
    mountLines.push(`${mount.type} ${mount.mountPoint} - ${mountOptions}`);
  }
  for (const [sub, target] of [
    ["run", "/run/libvirt"],
    ["lib", "/var/lib/libvirt"],
    ["cache", "/var/cache/libvirt"],
    ["log", "/var/log/libvirt"],
    ["etc", "/etc/libvirt"],
  ] as const) {
    mountLines.push(`bind ${target} ${path.join(dir, sub)} -`);
  }
  writeFileSync(path.join(dir, "mounts"), `${mountLines.join("\n")}\n`);

  // The preparation ensureLibvirtd makes for the system daemon.
  const prepared = cpusetTop ? fillMachineCpuset(cpusetTop) : [];

  daemons = [
    { name: "libvirtd", pidFile: path.join(dir, "libvirtd.pid") },
    { name: "virtlogd", pidFile: path.join(dir, "virtlogd.pid") },
  ];
  const launcher = spawn("bash", ["-c", LAUNCHER, "bash", dir, ...cgroups], {
    stdio: ["ignore", "ignore", "pipe"],
    env: {
      ...process.env,
      VIRTLOGD: findTool("virtlogd") ?? "virtlogd",
      LIBVIRTD: findTool("libvirtd") ?? "libvirtd",
    },
  });
  let stderr = "";
  launcher.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(launcher, "exit")) as [number | null];
  if (code !== 0) throw new Error(`the private libvirtd did not start (exit ${code}): ${stderr.trim()}`);
  await waitUntil("the private libvirtd did not answer", 30_000, () => answers(uri));
  const logTail = (): string => {
    try {
      return readFileSync(path.join(dir, "log", "libvirtd.log"), "utf8")
        .split("\n")
        .slice(-20)
        .join("\n");
    } catch {
      return "(no libvirtd.log)";
    }
  };
  return { uri, dir, cpusetTop, prepared, logTail, stop };
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
export async function waitForAgentThroughVirsh(
  name: string,
  timeoutMs: number,
  uri = libvirtTestUri(),
): Promise<void> {
  await waitUntil(`the guest agent of ${name} did not answer through libvirt`, timeoutMs, async () => {
    try {
      await virsh(["qemu-agent-command", "--timeout", "2", name, '{"execute":"guest-ping"}'], 10_000, uri);
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
  /** Another libvirtd than the test URI's (a PrivateLibvirtd's uri); it must already answer. */
  uri?: string;
  /** Default true: resolve once the agent answers; false: once libvirt has started the domain. */
  waitForAgent?: boolean;
}

async function prepareDomain(cleanup: Cleanup, label: string, options: DomainOptions) {
  const uri = options.uri ?? libvirtTestUri();
  if (!options.uri) await ensureLibvirtd();
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
    await virsh(["destroy", name], 30_000, uri).catch(() => undefined);
    await virsh(["undefine", name], 30_000, uri).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return { name, dir, consoleLog, xmlFile, uri };
}

/**
 * A domain booting the test guest, transient (gone once destroyed) unless `persistent`; resolves when its
 * agent answers through libvirt (unless `waitForAgent: false`). `cleanup.after` destroys (and undefines) it. Names are
 * `qga-mqtt-test-<label>-<random>`.
 */
export async function startLibvirtDomain(
  cleanup: Cleanup,
  label: string,
  options: DomainOptions = {},
): Promise<LibvirtTestDomain> {
  const { name, dir, consoleLog, xmlFile, uri } = await prepareDomain(cleanup, label, options);
  const consoleTail = async (): Promise<string> =>
    (await readFile(consoleLog, "utf8").catch(() => "")).split("\n").slice(-15).join("\n");

  const startedAt = performance.now();
  if (options.persistent) {
    await virsh(["define", xmlFile], 30_000, uri);
    await virsh(["start", name], 120_000, uri);
  } else {
    await virsh(["create", xmlFile], 120_000, uri);
  }
  try {
    if (options.waitForAgent !== false)
      await waitForAgentThroughVirsh(name, options.agentTimeoutMs ?? 60_000, uri);
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
  const { name, xmlFile, uri } = await prepareDomain(cleanup, label, options);
  await virsh(["define", xmlFile], 30_000, uri);
  return name;
}
