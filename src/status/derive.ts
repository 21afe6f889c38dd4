import type { ResultOf } from "../qga/catalogue/index.js";
import type {
  CpuSeconds,
  DiskStatus,
  FilesystemStatus,
  InterfaceStatus,
  StatusSnapshot,
  UserStatus,
} from "./snapshot.js";

/* Pure conversions from the agent's replies to the snapshot's members. */

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

export function osFrom(info: ResultOf<"guest-get-osinfo">): Os {
  return pick<Os>([
    ["id", info.id],
    ["name", info.name],
    ["pretty_name", info["pretty-name"]],
    ["version", info.version],
    ["kernel_release", info["kernel-release"]],
    ["machine", info.machine],
  ]);
}

export function timezoneFrom(tz: ResultOf<"guest-get-timezone">): Timezone {
  return pick<Timezone>([
    ["name", tz.zone],
    ["offset_seconds", tz.offset],
  ]);
}

/**
 * Guest clock minus host clock, in ms. The host's time is taken at the midpoint of the call, which
 * assumes the request and the reply took equally long: the error is at most half the round trip.
 */
export function timeOffsetMs(guestNs: number, hostBeforeMs: number, hostAfterMs: number): number {
  return round(guestNs / 1e6 - (hostBeforeMs + hostAfterMs) / 2, 3);
}

const LOOPBACK = /^(127\.|::1$|0:0:0:0:0:0:0:1$)/;

/**
 * Network interfaces without loopback: Linux names it "lo", Windows "Loopback Pseudo-Interface 1", so
 * an interface whose every address is a loopback one counts too. Interfaces without addresses stay.
 */
export function interfacesFrom(result: ResultOf<"guest-network-get-interfaces">): InterfaceStatus[] {
  const out: InterfaceStatus[] = [];
  for (const iface of result) {
    const addresses = iface["ip-addresses"] ?? [];
    const allLoopback = addresses.length > 0 && addresses.every((a) => LOOPBACK.test(a["ip-address"]));
    if (iface.name === "lo" || allLoopback) continue;
    const stats = iface.statistics;
    out.push(
      pick<InterfaceStatus>([
        ["name", iface.name],
        ["mac", iface["hardware-address"]],
        ["ipv4", addresses.filter((a) => a["ip-address-type"] === "ipv4").map((a) => a["ip-address"])],
        ["ipv6", addresses.filter((a) => a["ip-address-type"] === "ipv6").map((a) => a["ip-address"])],
        ["rx_bytes", stats?.["rx-bytes"]],
        ["tx_bytes", stats?.["tx-bytes"]],
        ["rx_packets", stats?.["rx-packets"]],
        ["tx_packets", stats?.["tx-packets"]],
      ]),
    );
  }
  return out;
}

/** Percentage with one decimal, as `df` would show it if it did not round up. */
export function usedPct(usedBytes: number, totalBytes: number): number {
  return totalBytes > 0 ? Math.min(100, round((100 * usedBytes) / totalBytes, 1)) : 0;
}

/**
 * Filesystems with sizes only: the agent leaves them out where statvfs failed (and Windows for volumes
 * without a drive letter). `total-bytes` is what an unprivileged user can fill (used + available), so the
 * percentage matches df's Use%; `total-bytes-privileged` (9.1+) would include root's reserve.
 */
export function filesystemsFrom(result: ResultOf<"guest-get-fsinfo">): FilesystemStatus[] {
  const out: FilesystemStatus[] = [];
  for (const fs of result) {
    const used = fs["used-bytes"];
    const total = fs["total-bytes"];
    if (used === undefined || total === undefined || total === 0) continue;
    out.push({
      mountpoint: fs.mountpoint,
      type: fs.type,
      used_bytes: used,
      total_bytes: total,
      used_pct: usedPct(used, total),
    });
  }
  return out;
}

export function usersFrom(result: ResultOf<"guest-get-users">): UserStatus[] {
  return result.map((u) =>
    pick<UserStatus>([
      ["name", u.user],
      ["domain", u.domain],
      // Fractional seconds since the epoch.
      ["login_time", new Date(Math.round(u["login-time"] * 1000)).toISOString()],
    ]),
  );
}

export function onlineVcpus(result: ResultOf<"guest-get-vcpus">): number {
  return result.filter((cpu) => cpu.online).length;
}

export function loadFrom(result: ResultOf<"guest-get-load">): Load {
  return { "1m": round(result.load1m, 2), "5m": round(result.load5m, 2), "15m": round(result.load15m, 2) };
}

/**
 * A stable subset of guest-get-disks: no SMART data (its counters move every poll) and no PCI address
 * (the host knows it). The agent has no size for disks.
 */
export function disksFrom(result: ResultOf<"guest-get-disks">): DiskStatus[] {
  return result.map((d) =>
    pick<DiskStatus>([
      ["name", d.name],
      ["partition", d.partition],
      ["dependencies", d.dependencies && d.dependencies.length > 0 ? d.dependencies : undefined],
      ["alias", d.alias],
      ["bus_type", d.address?.["bus-type"]],
      ["serial", d.address?.serial || undefined],
    ]),
  );
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
export function cpuTotals(result: ResultOf<"guest-get-cpustats">): CpuTotals | undefined {
  const cpus = result.filter((c): c is Extract<typeof c, { type: "linux" }> => c.type === "linux");
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
