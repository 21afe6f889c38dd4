import type { AgentState, FleetStore } from "./fleet-store.js";

/** One line of the fleet table, derived from what the store knows of a VM. */
export interface FleetRow {
  readonly name: string;
  readonly worker: string;
  readonly groups: readonly string[];
  readonly state: AgentState;
  readonly os: string;
  readonly hostname: string;
  readonly addresses: string;
  readonly fullest?: { readonly mountpoint: string; readonly pct: number };
  readonly users: number;
  readonly load?: number;
  readonly cpu?: number;
  readonly offsetMs?: number;
  readonly updatedMs?: number;
}

export interface FleetQuery {
  readonly search: string;
  readonly state: AgentState | "";
  readonly worker: string;
  readonly group: string;
  /** Only VMs with a filesystem fuller than this (percent); undefined: no such filter. */
  readonly diskOver?: number;
  readonly sort: SortKey;
  readonly descending: boolean;
}

export const SORT_KEYS = ["name", "worker", "state", "os", "disk", "load", "offset", "age"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export const STATES: readonly AgentState[] = [
  "online",
  "offline",
  "frozen",
  "unresponsive",
  "unreachable",
  "unknown",
];

export function fleetRows(store: FleetStore): FleetRow[] {
  const rows: FleetRow[] = [];
  for (const vm of store.vms.values()) {
    const status = vm.status;
    let fullest: FleetRow["fullest"];
    for (const fs of status?.filesystems ?? []) {
      if (!fullest || fs.used_pct > fullest.pct) fullest = { mountpoint: fs.mountpoint, pct: fs.used_pct };
    }
    const addresses = (status?.interfaces ?? [])
      .filter((nic) => nic.name !== "lo")
      .flatMap((nic) => nic.ipv4)
      .join(", ");
    const updated = status ? Date.parse(status.updated) : Number.NaN;
    rows.push({
      name: vm.name,
      worker: vm.worker ?? "",
      groups: vm.groups,
      state: store.stateOf(vm),
      os: status?.os?.pretty_name ?? status?.os?.name ?? "",
      hostname: status?.hostname ?? "",
      addresses,
      ...(fullest ? { fullest } : {}),
      users: status?.users?.length ?? 0,
      ...(status?.load ? { load: status.load["1m"] } : {}),
      ...(status?.cpu_pct !== undefined ? { cpu: status.cpu_pct } : {}),
      ...(status?.time_offset_ms !== undefined ? { offsetMs: status.time_offset_ms } : {}),
      ...(Number.isNaN(updated) ? {} : { updatedMs: updated }),
    });
  }
  return rows;
}

export function totals(rows: readonly FleetRow[]): Record<AgentState, number> {
  const counts: Record<AgentState, number> = {
    online: 0,
    offline: 0,
    frozen: 0,
    unresponsive: 0,
    unreachable: 0,
    unknown: 0,
  };
  for (const row of rows) counts[row.state]++;
  return counts;
}

export function applyQuery(rows: readonly FleetRow[], query: FleetQuery): FleetRow[] {
  const needle = query.search.trim().toLowerCase();
  const kept = rows.filter(
    (row) =>
      (needle === "" ||
        row.name.toLowerCase().includes(needle) ||
        row.hostname.toLowerCase().includes(needle) ||
        row.addresses.includes(needle) ||
        row.os.toLowerCase().includes(needle)) &&
      (query.state === "" || row.state === query.state) &&
      (query.worker === "" || row.worker === query.worker) &&
      (query.group === "" || row.groups.includes(query.group)) &&
      (query.diskOver === undefined || (row.fullest?.pct ?? -1) > query.diskOver),
  );
  const key = sortValue(query.sort);
  const direction = query.descending ? -1 : 1;
  return kept.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const order = x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name);
    return order * direction;
  });
}

function sortValue(key: SortKey): (row: FleetRow) => string | number {
  switch (key) {
    case "name":
      return (row) => row.name;
    case "worker":
      return (row) => row.worker;
    case "state":
      return (row) => STATES.indexOf(row.state);
    case "os":
      return (row) => row.os;
    case "disk":
      return (row) => row.fullest?.pct ?? -1;
    case "load":
      return (row) => row.load ?? row.cpu ?? -1;
    case "offset":
      return (row) => Math.abs(row.offsetMs ?? 0);
    case "age":
      return (row) => -(row.updatedMs ?? 0);
  }
}
