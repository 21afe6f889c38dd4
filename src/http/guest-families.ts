import type { StatusSnapshot } from "../status/snapshot.js";

/** One VM as the guest metrics last saw it (its snapshot already filtered). */
export interface GuestState {
  readonly snapshot: StatusSnapshot;
  /** Seconds the last collect took. */
  readonly pollSeconds: number;
  /** Unix seconds of the last collect with the agent online (the guest's state read), if any yet. */
  readonly lastSuccess: number | undefined;
}

export type Row = readonly [labels: Record<string, string>, value: number];

/** A metric family: its series for one VM, computed at scrape time from the VM's state. */
export interface GuestFamily {
  readonly name: string;
  readonly help: string;
  /** Counters carry the agent's cumulative values (CPU seconds, traffic since boot). */
  readonly type: "gauge" | "counter";
  /** Labels besides `vm` and `worker`. */
  readonly labels: readonly string[];
  rows(state: GuestState): Row[];
}

const one = (value: number | undefined): Row[] => (value === undefined ? [] : [[{}, value]]);

function gauge(name: string, help: string, value: (s: StatusSnapshot) => number | undefined): GuestFamily {
  return { name, help, type: "gauge", labels: [], rows: (state) => one(value(state.snapshot)) };
}

type Counter = "rx_bytes" | "tx_bytes" | "rx_packets" | "tx_packets";

function network(name: string, help: string, member: Counter): GuestFamily {
  return {
    name,
    help,
    type: "counter",
    labels: ["interface"],
    rows: ({ snapshot }) =>
      (snapshot.interfaces ?? []).flatMap((i): Row[] => {
        const value = i[member];
        return value === undefined ? [] : [[{ interface: i.name }, value]];
      }),
  };
}

function filesystem(name: string, help: string, member: "used_bytes" | "total_bytes"): GuestFamily {
  return {
    name,
    help,
    type: "gauge",
    labels: ["mountpoint", "type"],
    rows: ({ snapshot }) =>
      (snapshot.filesystems ?? []).map(
        (fs): Row => [{ mountpoint: fs.mountpoint, type: fs.type }, fs[member]],
      ),
  };
}

const answers = (agent: StatusSnapshot["agent"]): number =>
  agent === "online" || agent === "frozen" ? 1 : 0;

/** Every qga_guest_* family (README, "Guest metrics"). */
export const GUEST_FAMILIES: readonly GuestFamily[] = [
  gauge("qga_guest_agent_up", "1 while the guest agent answers (online or frozen), else 0", (s) =>
    answers(s.agent),
  ),
  {
    name: "qga_guest_agent_info",
    help: "The guest agent's version, as a label; always 1",
    type: "gauge",
    labels: ["version"],
    rows: ({ snapshot }) =>
      snapshot.agent_version === undefined ? [] : [[{ version: snapshot.agent_version }, 1]],
  },
  filesystem("qga_guest_filesystem_used_bytes", "Bytes used on the filesystem", "used_bytes"),
  filesystem(
    "qga_guest_filesystem_size_bytes",
    "Size of the filesystem an unprivileged user can fill (used + available, as df)",
    "total_bytes",
  ),
  gauge("qga_guest_users_logged_in", "Users logged in to the guest", (s) => s.users?.length),
  gauge("qga_guest_vcpus_online", "Online vCPUs of the guest", (s) => s.vcpus),
  gauge(
    "qga_guest_clock_offset_seconds",
    "Guest clock minus host clock, corrected for the round trip",
    (s) => (s.time_offset_ms === undefined ? undefined : s.time_offset_ms / 1000),
  ),
  gauge("qga_guest_load1", "Guest load average over 1 minute (agents 10.0+)", (s) => s.load?.["1m"]),
  gauge("qga_guest_load5", "Guest load average over 5 minutes (agents 10.0+)", (s) => s.load?.["5m"]),
  gauge("qga_guest_load15", "Guest load average over 15 minutes (agents 10.0+)", (s) => s.load?.["15m"]),
  {
    name: "qga_guest_cpu_seconds_total",
    help: "CPU time of all the guest's CPUs since it booted, by mode",
    type: "counter",
    labels: ["mode"],
    rows: ({ snapshot }) =>
      Object.entries(snapshot.cpu_seconds ?? {}).flatMap(([mode, value]): Row[] =>
        value === undefined ? [] : [[{ mode }, value]],
      ),
  },
  network("qga_guest_network_receive_bytes_total", "Bytes received by the interface", "rx_bytes"),
  network("qga_guest_network_transmit_bytes_total", "Bytes sent by the interface", "tx_bytes"),
  network("qga_guest_network_receive_packets_total", "Packets received by the interface", "rx_packets"),
  network("qga_guest_network_transmit_packets_total", "Packets sent by the interface", "tx_packets"),
  {
    name: "qga_guest_last_poll_success_timestamp_seconds",
    help: "Unix time of the last status poll that read the guest's state (agent online)",
    type: "gauge",
    labels: [],
    rows: (state) => one(state.lastSuccess),
  },
  {
    name: "qga_guest_poll_duration_seconds",
    help: "Time the last status poll of the VM took",
    type: "gauge",
    labels: [],
    rows: (state) => one(state.pollSeconds),
  },
];
