import { useState } from "preact/hooks";
import type { Session } from "../connection.js";
import { useSignal } from "../signal.js";

/** The fleet's events (availability changes, freezes, audit records, workers) as they come, newest first. */
export function ActivityPage({ session }: { session: Session }) {
  const { store } = session;
  useSignal(store.changed);
  const [filter, setFilter] = useState("");
  const [kind, setKind] = useState("");
  const kinds = [...new Set(store.activity.map((entry) => entry.kind))].sort();
  const needle = filter.trim().toLowerCase();
  const shown = store.activity
    .filter(
      (entry) =>
        (kind === "" || entry.kind === kind) &&
        (needle === "" ||
          `${entry.vm ?? ""} ${entry.worker ?? ""} ${entry.detail}`.toLowerCase().includes(needle)),
    )
    .slice(-500)
    .reverse();
  return (
    <section aria-labelledby="activity-title">
      <h1 id="activity-title">Activity</h1>
      <div class="filters">
        <label>
          Filter
          <input
            type="search"
            aria-label="Filter events"
            value={filter}
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">any</option>
            {kinds.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
      </div>
      <table aria-label="Events" class="results">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">VM / worker</th>
            <th scope="col">Event</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((entry) => (
            <tr key={entry.seq}>
              <td>{new Date(entry.at).toLocaleTimeString()}</td>
              <td>
                {entry.vm ? <a href={`#/vm/${encodeURIComponent(entry.vm)}`}>{entry.vm}</a> : entry.worker}
              </td>
              <td>{entry.kind}</td>
              <td>{entry.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 ? <p class="muted">No events since this page opened.</p> : null}
    </section>
  );
}
