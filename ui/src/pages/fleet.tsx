import { useMemo, useState } from "preact/hooks";
import type { Session } from "../connection.js";
import {
  applyQuery,
  type FleetQuery,
  type FleetRow,
  fleetRows,
  type SortKey,
  STATES,
  totals,
} from "../fleet-rows.js";
import type { AgentState } from "../fleet-store.js";
import { age, offset } from "../format.js";
import { useSignal, useTick } from "../signal.js";
import { type Column, VirtualTable } from "../virtual-table.js";

const INITIAL: FleetQuery = { search: "", state: "", worker: "", group: "", sort: "name", descending: false };

export function FleetPage({ session }: { session: Session }) {
  const { store } = session;
  const version = useSignal(store.changed);
  // Ages move on even when no status comes.
  useTick(5000);
  const [query, setQuery] = useState<FleetQuery>(INITIAL);
  const all = useMemo(() => fleetRows(store), [store, version]);
  const rows = useMemo(() => applyQuery(all, query), [all, query]);
  const counts = totals(all);
  const now = Date.now();
  const update = (change: Partial<FleetQuery>) => setQuery((q) => ({ ...q, ...change }));
  const sortBy = (key: SortKey) =>
    setQuery((q) => ({ ...q, sort: key, descending: q.sort === key ? !q.descending : false }));
  const header = (key: SortKey, label: string) => (
    <button type="button" class="sort" onClick={() => sortBy(key)}>
      {label}
      {query.sort === key ? (query.descending ? " ▼" : " ▲") : ""}
    </button>
  );
  const sorted = (key: SortKey) =>
    query.sort === key ? (query.descending ? "descending" : "ascending") : ("none" as const);
  const columns: Column<FleetRow>[] = [
    {
      id: "name",
      header: header("name", "VM"),
      sort: sorted("name"),
      width: "10rem",
      cell: (row) => <a href={`#/vm/${encodeURIComponent(row.name)}`}>{row.name}</a>,
    },
    {
      id: "worker",
      header: header("worker", "Worker"),
      sort: sorted("worker"),
      width: "7rem",
      cell: (r) => r.worker,
    },
    {
      id: "state",
      header: header("state", "Agent"),
      sort: sorted("state"),
      width: "7.5rem",
      cell: (row) => <span class={`state state-${row.state}`}>{row.state}</span>,
    },
    { id: "os", header: header("os", "OS"), sort: sorted("os"), cell: (r) => r.os },
    { id: "host", header: "Host name", cell: (r) => r.hostname },
    { id: "addr", header: "Addresses", cell: (r) => r.addresses },
    {
      id: "disk",
      header: header("disk", "Fullest FS"),
      sort: sorted("disk"),
      width: "8rem",
      cell: (row) =>
        row.fullest ? (
          <span title={row.fullest.mountpoint}>
            <meter min={0} max={100} high={85} value={row.fullest.pct} /> {Math.round(row.fullest.pct)} %
          </span>
        ) : (
          ""
        ),
    },
    { id: "users", header: "Users", width: "4rem", cell: (r) => (r.updatedMs === undefined ? "" : r.users) },
    {
      id: "load",
      header: header("load", "Load / CPU"),
      sort: sorted("load"),
      width: "7rem",
      cell: (r) =>
        [r.load?.toFixed(2), r.cpu === undefined ? undefined : `${r.cpu.toFixed(0)} %`]
          .filter(Boolean)
          .join(" · "),
    },
    {
      id: "offset",
      header: header("offset", "Clock"),
      sort: sorted("offset"),
      width: "5.5rem",
      cell: (r) => offset(r.offsetMs),
    },
    {
      id: "age",
      header: header("age", "Status age"),
      sort: sorted("age"),
      width: "6rem",
      cell: (r) => (r.updatedMs === undefined ? "" : age(r.updatedMs, now)),
    },
  ];
  return (
    <section aria-labelledby="fleet-title">
      <h1 id="fleet-title">Fleet</h1>
      <section class="totals" aria-label="Totals">
        <span>{all.length} VMs</span>
        {(["online", "offline", "frozen", "unresponsive", "unreachable"] as const).map((state) => (
          <span key={state} class={`state state-${state}`}>
            {state} {counts[state]}
          </span>
        ))}
      </section>
      <FleetFilters session={session} query={query} update={update} />
      <p class="muted">
        {rows.length} of {all.length} shown
      </p>
      <VirtualTable label="Virtual machines" rows={rows} columns={columns} rowKey={(row) => row.name} />
    </section>
  );
}

interface FiltersProps {
  session: Session;
  query: FleetQuery;
  update: (change: Partial<FleetQuery>) => void;
}

function FleetFilters({ session, query, update }: FiltersProps) {
  const { store } = session;
  const workers = [...store.workers.keys()].sort();
  const groups = store.groups();
  return (
    <div class="filters">
      <label>
        Search
        <input
          type="search"
          aria-label="Search VMs"
          placeholder="name, host, address, OS"
          value={query.search}
          onInput={(event) => update({ search: event.currentTarget.value })}
        />
      </label>
      <label>
        State
        <select
          value={query.state}
          onChange={(event) => update({ state: event.currentTarget.value as AgentState | "" })}
        >
          <option value="">any</option>
          {STATES.map((state) => (
            <option key={state} value={state}>
              {state}
            </option>
          ))}
        </select>
      </label>
      <label>
        Worker
        <select value={query.worker} onChange={(event) => update({ worker: event.currentTarget.value })}>
          <option value="">any</option>
          {workers.map((worker) => (
            <option key={worker}>{worker}</option>
          ))}
        </select>
      </label>
      <label>
        Group
        <select value={query.group} onChange={(event) => update({ group: event.currentTarget.value })}>
          <option value="">any</option>
          {groups.map((group) => (
            <option key={group}>{group}</option>
          ))}
        </select>
      </label>
      <label>
        Disk over %
        <input
          type="number"
          min={0}
          max={100}
          value={query.diskOver ?? ""}
          onInput={(event) => {
            const text = event.currentTarget.value;
            const value = Number(text);
            update(text === "" || Number.isNaN(value) ? { diskOver: undefined } : { diskOver: value });
          }}
        />
      </label>
    </div>
  );
}
