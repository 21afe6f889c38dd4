import { z } from "zod";

/*
 * The status snapshot retained at `<base>/<vm>/status` (shared/spec/mqtt-api.md, "Status snapshot").
 * Member names are the bridge's own (snake_case), not the agent's: the payload is an interface of ours,
 * so an agent's renamed or added members never leak into it.
 */

export const AgentStatus = z.enum(["online", "offline", "frozen", "unresponsive"]);
export type AgentStatus = z.infer<typeof AgentStatus>;

// Byte and packet counters are uint64 in the agent: past 2^53 they arrive rounded, so no safe-int check.
const amount = z.number().nonnegative();

export const InterfaceStatus = z.strictObject({
  name: z.string(),
  mac: z.string().optional(),
  ipv4: z.array(z.string()),
  ipv6: z.array(z.string()),
  rx_bytes: amount.optional(),
  tx_bytes: amount.optional(),
  rx_packets: amount.optional(),
  tx_packets: amount.optional(),
});
export type InterfaceStatus = z.infer<typeof InterfaceStatus>;

export const FilesystemStatus = z.strictObject({
  mountpoint: z.string(),
  type: z.string(),
  used_bytes: amount,
  total_bytes: amount,
  used_pct: z.number().min(0).max(100),
});
export type FilesystemStatus = z.infer<typeof FilesystemStatus>;

export const UserStatus = z.strictObject({
  name: z.string(),
  domain: z.string().optional(),
  login_time: z.iso.datetime(),
});
export type UserStatus = z.infer<typeof UserStatus>;

export const DiskStatus = z.strictObject({
  name: z.string(),
  partition: z.boolean(),
  /** Devices this one sits on (a partition's disk, an LVM volume's partitions). */
  dependencies: z.array(z.string()).optional(),
  alias: z.string().optional(),
  bus_type: z.string().optional(),
  /** What matches the guest's disk to the host's drive (`-device ...,serial=`). */
  serial: z.string().optional(),
});
export type DiskStatus = z.infer<typeof DiskStatus>;

const seconds = z.number().nonnegative();

/**
 * The lists of a snapshot that can be cut (src/status/guest-bounds.ts), in the snapshot's order:
 * `addresses` are an interface's, `dependencies` a disk's, `cpus` the per-CPU lists `vcpus` and
 * `cpu_seconds` are counted from.
 */
export const Truncated = z.enum([
  "interfaces",
  "addresses",
  "filesystems",
  "users",
  "cpus",
  "disks",
  "dependencies",
]);
export type Truncated = z.infer<typeof Truncated>;

/** CPU time summed over all CPUs since the guest booted, in seconds (for rates, e.g. Prometheus). */
export const CpuSeconds = z.strictObject({
  user: seconds,
  nice: seconds,
  system: seconds,
  idle: seconds,
  iowait: seconds.optional(),
  irq: seconds.optional(),
  softirq: seconds.optional(),
  steal: seconds.optional(),
  guest: seconds.optional(),
  guestnice: seconds.optional(),
});
export type CpuSeconds = z.infer<typeof CpuSeconds>;

export const StatusSnapshot = z.strictObject({
  vm: z.string(),
  agent: AgentStatus,
  updated: z.iso.datetime(),
  agent_version: z.string().optional(),
  hostname: z.string().optional(),
  // Every member optional: a POSIX guest omits what its os-release file lacks.
  os: z
    .strictObject({
      id: z.string().optional(),
      name: z.string().optional(),
      pretty_name: z.string().optional(),
      version: z.string().optional(),
      kernel_release: z.string().optional(),
      machine: z.string().optional(),
    })
    .optional(),
  timezone: z.strictObject({ name: z.string().optional(), offset_seconds: z.number().int() }).optional(),
  time_offset_ms: z.number().optional(),
  interfaces: z.array(InterfaceStatus).optional(),
  filesystems: z.array(FilesystemStatus).optional(),
  users: z.array(UserStatus).optional(),
  vcpus: z.number().int().nonnegative().optional(),
  load: z.strictObject({ "1m": z.number(), "5m": z.number(), "15m": z.number() }).optional(),
  cpu_pct: z.number().min(0).max(100).optional(),
  cpu_seconds: CpuSeconds.optional(),
  disks: z.array(DiskStatus).optional(),
  /**
   * The lists the guest named more entries of than the bounds keep (or that were cut to keep the
   * snapshot under its size): each holds the first entries, in the agent's order. Absent when nothing
   * was cut. Names only, no counts: a count that moves would make every poll a change.
   */
  truncated: z.array(Truncated).optional(),
});
export type StatusSnapshot = z.infer<typeof StatusSnapshot>;

/** What a successful collect can add to the three members every snapshot has. */
export type GuestFields = Omit<StatusSnapshot, "vm" | "agent" | "updated">;

type Readings = "time_offset_ms" | "cpu_pct" | "cpu_seconds" | "load" | "interfaces" | "filesystems";

/** A snapshot without its readings. */
export type SnapshotFacts = Omit<StatusSnapshot, Readings> & {
  interfaces?: Array<Omit<InterfaceStatus, "rx_bytes" | "tx_bytes" | "rx_packets" | "tx_packets">>;
  filesystems?: Array<Omit<FilesystemStatus, "used_bytes">>;
};

/**
 * The snapshot without its readings: the members that move on every poll of a live guest by themselves
 * (clock offset, CPU and load, traffic counters, bytes written). Compared on this, a snapshot "changes"
 * when something about the guest does (agent state, addresses, users, mounts, sizes), not every poll.
 */
export function withoutReadings(snapshot: StatusSnapshot): SnapshotFacts {
  const {
    time_offset_ms: _t,
    cpu_pct: _c,
    cpu_seconds: _s,
    load: _l,
    interfaces,
    filesystems,
    ...facts
  } = snapshot;
  const result: SnapshotFacts = facts;
  if (interfaces) {
    result.interfaces = interfaces.map(
      ({ rx_bytes: _rb, tx_bytes: _tb, rx_packets: _rp, tx_packets: _tp, ...rest }) => rest,
    );
  }
  // A disk filling up is news (Home Assistant graphs it): a move of a whole percentage point counts.
  if (filesystems) {
    result.filesystems = filesystems.map(({ used_bytes: _u, used_pct, ...rest }) => ({
      ...rest,
      used_pct: Math.round(used_pct),
    }));
  }
  return result;
}

/** Every member a snapshot can have, in the schema's order. */
const SNAPSHOT_MEMBERS = Object.keys(StatusSnapshot.shape) as Array<keyof StatusSnapshot>;

/**
 * A snapshot's facts (see withoutReadings) as one string, equal exactly when the facts are: every member
 * but `updated` at its place in the schema's order (a collect fills members as its queries answer), each
 * value as JSON (built by the same code every poll, so its own order is fixed). Comparing two strings costs
 * a fraction of a deep comparison of the objects (measured: the comparison was a tenth of a status poll).
 */
export function factsKey(snapshot: StatusSnapshot): string {
  const facts = withoutReadings(snapshot) as Partial<Record<keyof StatusSnapshot, unknown>>;
  return JSON.stringify(
    SNAPSHOT_MEMBERS.map((member) => (member === "updated" || !(member in facts) ? 0 : [facts[member]])),
  );
}

/**
 * The poller's test for "changed": different facts (see withoutReadings). Readings still go out with
 * every publish, and at least every heartbeat; `last` always has the newest ones.
 */
export function factsChanged(previous: StatusSnapshot, next: StatusSnapshot): boolean {
  return factsKey(previous) !== factsKey(next);
}
