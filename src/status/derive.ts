import type { ResultOf } from "../qga/catalogue/index.js";
import { boundOptional, boundText, type GuestBounds } from "./guest-bounds.js";
import type {
  CpuSeconds,
  DiskStatus,
  FilesystemStatus,
  InterfaceStatus,
  StatusSnapshot,
  Truncated,
  UserStatus,
} from "./snapshot.js";

/*
 * Pure conversions from the agent's replies to the snapshot's members. The guest chooses every list and
 * string of a reply: each conversion keeps what `bounds` allows (guest-bounds.ts), looking at no more of a
 * list than that, and adds to `cuts` the lists it cut.
 */

/** The lists cut while deriving a snapshot (its `truncated` member). */
export type Cuts = Set<Truncated>;

type Os = NonNullable<StatusSnapshot["os"]>;
type Timezone = NonNullable<StatusSnapshot["timezone"]>;
type Load = NonNullable<StatusSnapshot["load"]>;

/** Rounds to `digits` decimals. */
export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** An object of the pairs whose value is defined: a snapshot never holds `undefined` (see sameSnapshot). */
function pick<T extends object>(pairs: ReadonlyArray<readonly [keyof T, unknown]>): T {
  const out: Partial<Record<keyof T, unknown>> = {};
  for (const [key, value] of pairs) if (value !== undefined) out[key] = value;
  return out as T;
}

export function hostnameFrom(result: ResultOf<"guest-get-host-name">, bounds: GuestBounds): string {
  return boundText(result["host-name"], bounds.nameChars);
}

export function osFrom(info: ResultOf<"guest-get-osinfo">, bounds: GuestBounds): Os {
  const { nameChars, tokenChars } = bounds;
  return pick<Os>([
    ["id", boundOptional(info.id, tokenChars)],
    ["name", boundOptional(info.name, nameChars)],
    ["pretty_name", boundOptional(info["pretty-name"], nameChars)],
    ["version", boundOptional(info.version, nameChars)],
    ["kernel_release", boundOptional(info["kernel-release"], tokenChars)],
    ["machine", boundOptional(info.machine, tokenChars)],
  ]);
}

export function timezoneFrom(tz: ResultOf<"guest-get-timezone">, bounds: GuestBounds): Timezone {
  return pick<Timezone>([
    ["name", boundOptional(tz.zone, bounds.nameChars)],
    ["offset_seconds", tz.offset],
  ]);
}

/**
 * The first `max` entries of `list` (all when it is shorter), noting `what` in `cuts` when some were
 * left. A copy only when cut: most lists are far below their bound.
 */
function head<T>(list: readonly T[], max: number, what: Truncated, cuts: Cuts): readonly T[] {
  if (list.length <= max) return list;
  cuts.add(what);
  return list.slice(0, max);
}

/**
 * Guest clock minus host clock, in ms. The host's time is taken at the midpoint of the call, which
 * assumes the request and the reply took equally long: the error is at most half the round trip.
 */
export function timeOffsetMs(guestNs: number, hostBeforeMs: number, hostAfterMs: number): number {
  return round(guestNs / 1e6 - (hostBeforeMs + hostAfterMs) / 2, 3);
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

type Address = NonNullable<ResultOf<"guest-network-get-interfaces">[number]["ip-addresses"]>[number];

/**
 * An interface's addresses by family, at most `addressesPerFamily` each, from `slice`, the head of the
 * `total` addresses the guest listed (notes `addresses` when any was left).
 */
function addressesOf(
  slice: readonly Address[],
  total: number,
  bounds: GuestBounds,
  cuts: Cuts,
): { ipv4: string[]; ipv6: string[] } {
  const max = bounds.addressesPerFamily;
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  let i = 0;
  for (; i < slice.length && (ipv4.length < max || ipv6.length < max); i++) {
    const address = slice[i];
    if (address === undefined) continue;
    const family = address["ip-address-type"] === "ipv4" ? ipv4 : ipv6;
    if (family.length < max) family.push(boundText(address["ip-address"], bounds.tokenChars));
    else cuts.add("addresses");
  }
  if (i < total) cuts.add("addresses");
  return { ipv4, ipv6 };
}

/**
 * Network interfaces without loopback: Linux names it "lo", Windows "Loopback Pseudo-Interface 1", so
 * an interface whose every address (of those looked at) is a loopback one counts too. Interfaces without
 * addresses stay. A name the guest repeats is kept once: it keys a series and Home Assistant attributes.
 */
export function interfacesFrom(
  result: ResultOf<"guest-network-get-interfaces">,
  bounds: GuestBounds,
  cuts: Cuts,
): InterfaceStatus[] {
  const out: InterfaceStatus[] = [];
  const names = new Set<string>();
  const scan = Math.min(result.length, bounds.interfaces * bounds.scanFactor);
  const addressScan = 2 * bounds.addressesPerFamily * bounds.scanFactor;
  let i = 0;
  for (; i < scan && out.length < bounds.interfaces; i++) {
    const iface = result[i];
    if (iface === undefined) continue;
    const all = iface["ip-addresses"] ?? [];
    // Both families can fill up from this head; the loopback test looks at it only.
    const addresses = all.length > addressScan ? all.slice(0, addressScan) : all;
    const allLoopback = addresses.length > 0 && addresses.every((a) => LOOPBACK.test(a["ip-address"]));
    const name = boundText(iface.name, bounds.nameChars);
    if (iface.name === "lo" || allLoopback || names.has(name)) continue;
    names.add(name);
    const stats = iface.statistics;
    const { ipv4, ipv6 } = addressesOf(addresses, all.length, bounds, cuts);
    out.push(
      pick<InterfaceStatus>([
        ["name", name],
        ["mac", boundOptional(iface["hardware-address"], bounds.tokenChars)],
        ["ipv4", ipv4],
        ["ipv6", ipv6],
        ["rx_bytes", stats?.["rx-bytes"]],
        ["tx_bytes", stats?.["tx-bytes"]],
        ["rx_packets", stats?.["rx-packets"]],
        ["tx_packets", stats?.["tx-packets"]],
      ]),
    );
  }
  if (i < result.length) cuts.add("interfaces");
  return out;
}

/** Percentage with one decimal, as `df` would show it if it did not round up. */
export function usedPct(usedBytes: number, totalBytes: number): number {
  return totalBytes > 0 ? Math.min(100, round((100 * usedBytes) / totalBytes, 1)) : 0;
}

/**
 * Filesystems with sizes only: the agent leaves them out where statvfs failed (and Windows for volumes
 * without a drive letter). `total-bytes` is what an unprivileged user can fill (used + available), so the
 * percentage matches df's Use%; `total-bytes-privileged` (9.1+) would include root's reserve. A mount
 * point listed again (mounts stacked on one directory) is kept once, the first: it keys a Home Assistant
 * entity and a series.
 */
export function filesystemsFrom(
  result: ResultOf<"guest-get-fsinfo">,
  bounds: GuestBounds,
  cuts: Cuts,
): FilesystemStatus[] {
  const out: FilesystemStatus[] = [];
  const mountpoints = new Set<string>();
  const scan = Math.min(result.length, bounds.filesystems * bounds.scanFactor);
  let i = 0;
  for (; i < scan && out.length < bounds.filesystems; i++) {
    const fs = result[i];
    if (fs === undefined) continue;
    const used = fs["used-bytes"];
    const total = fs["total-bytes"];
    if (used === undefined || total === undefined || total === 0) continue;
    const mountpoint = boundText(fs.mountpoint, bounds.pathChars);
    if (mountpoints.has(mountpoint)) continue;
    mountpoints.add(mountpoint);
    out.push({
      mountpoint,
      type: boundText(fs.type, bounds.tokenChars),
      used_bytes: used,
      total_bytes: total,
      used_pct: usedPct(used, total),
    });
  }
  if (i < result.length) cuts.add("filesystems");
  return out;
}

/** An ISO 8601 time from fractional seconds since the epoch; undefined past what a Date holds (±275,000 years). */
function isoTime(seconds: number): string | undefined {
  const date = new Date(Math.round(seconds * 1000));
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * Logged-in users. One whose login time no date can hold is a guest's lie: left out, rather than the
 * whole query failing (toISOString throws) and every user lost until the agent reconnects.
 */
export function usersFrom(
  result: ResultOf<"guest-get-users">,
  bounds: GuestBounds,
  cuts: Cuts,
): UserStatus[] {
  const users: UserStatus[] = [];
  for (const u of head(result, bounds.users, "users", cuts)) {
    const loginTime = isoTime(u["login-time"]);
    if (loginTime === undefined) continue;
    users.push(
      pick<UserStatus>([
        ["name", boundText(u.user, bounds.nameChars)],
        ["domain", boundOptional(u.domain, bounds.nameChars)],
        ["login_time", loginTime],
      ]),
    );
  }
  return users;
}

export function onlineVcpus(result: ResultOf<"guest-get-vcpus">, bounds: GuestBounds, cuts: Cuts): number {
  let online = 0;
  for (const cpu of head(result, bounds.cpus, "cpus", cuts)) if (cpu.online) online++;
  return online;
}

export function loadFrom(result: ResultOf<"guest-get-load">): Load {
  return { "1m": round(result.load1m, 2), "5m": round(result.load5m, 2), "15m": round(result.load15m, 2) };
}

/**
 * A stable subset of guest-get-disks: no SMART data (its counters move every poll) and no PCI address
 * (the host knows it). The agent has no size for disks.
 */
export function disksFrom(
  result: ResultOf<"guest-get-disks">,
  bounds: GuestBounds,
  cuts: Cuts,
): DiskStatus[] {
  const { pathChars, nameChars, tokenChars } = bounds;
  return head(result, bounds.disks, "disks", cuts).map((d) => {
    const dependencies = head(d.dependencies ?? [], bounds.dependenciesPerDisk, "dependencies", cuts);
    return pick<DiskStatus>([
      ["name", boundText(d.name, pathChars)],
      ["partition", d.partition],
      [
        "dependencies",
        dependencies.length > 0 ? dependencies.map((p) => boundText(p, pathChars)) : undefined,
      ],
      ["alias", boundOptional(d.alias, nameChars)],
      ["bus_type", boundOptional(d.address?.["bus-type"], tokenChars)],
      ["serial", boundOptional(d.address?.serial || undefined, nameChars)],
    ]);
  });
}

const CPU_STATES = [
  "user",
  "nice",
  "system",
  "idle",
  "iowait",
  "irq",
  "softirq",
  "steal",
  "guest",
  "guestnice",
] as const;
type CpuState = (typeof CPU_STATES)[number];

/** Milliseconds per CPU state summed over the guest's CPUs; only states every CPU reported. */
export type CpuTotals = Partial<Record<CpuState, number>>;

/** Undefined when the guest reported no Linux CPU (a future non-Linux variant). */
export function cpuTotals(
  result: ResultOf<"guest-get-cpustats">,
  bounds: GuestBounds,
  cuts: Cuts,
): CpuTotals | undefined {
  const cpus = head(result, bounds.cpus, "cpus", cuts).filter(
    (c): c is Extract<typeof c, { type: "linux" }> => c.type === "linux",
  );
  if (cpus.length === 0) return undefined;
  const totals: CpuTotals = {};
  for (const state of CPU_STATES) {
    const values = cpus.map((c) => c[state]);
    if (values.every((v): v is number => typeof v === "number"))
      totals[state] = values.reduce((a, b) => a + b, 0);
  }
  return totals;
}

export function cpuSecondsFrom(totals: CpuTotals): CpuSeconds {
  return pick<CpuSeconds>(
    CPU_STATES.map((state) => [
      state,
      totals[state] === undefined ? undefined : round(totals[state] / 1000, 2),
    ]),
  );
}

// Linux counts guest time inside user (and guest_nice inside nice): adding them again would count it twice.
const BUSY_OR_IDLE: readonly CpuState[] = CPU_STATES.filter((s) => s !== "guest" && s !== "guestnice");

/** All CPU time counted so far, busy or idle, in ms. */
export function cpuTotalMs(totals: CpuTotals): number {
  return sum(totals, BUSY_OR_IDLE);
}

function sum(totals: CpuTotals, states: readonly CpuState[]): number {
  return states.reduce((acc, state) => acc + (totals[state] ?? 0), 0);
}

/**
 * Busy share of all CPUs between two readings: 100 * (1 - Δ(idle + iowait) / Δtotal), one decimal.
 * Undefined when no time passed or a counter went backwards (the guest rebooted in between).
 */
export function cpuPct(previous: CpuTotals, current: CpuTotals): number | undefined {
  const idle = sum(current, ["idle", "iowait"]) - sum(previous, ["idle", "iowait"]);
  const total = sum(current, BUSY_OR_IDLE) - sum(previous, BUSY_OR_IDLE);
  if (!(total > 0)) return undefined;
  // Linux's iowait may step back a little on tickless kernels (see proc(5)): only the others tell a reboot.
  for (const state of BUSY_OR_IDLE) {
    if (state !== "iowait" && (current[state] ?? 0) < (previous[state] ?? 0)) return undefined;
  }
  return Math.min(100, Math.max(0, round(100 * (1 - idle / total), 1)));
}
