import type { Session } from "../connection.js";
import { useSignal } from "../signal.js";

export function WorkersPage({ session }: { session: Session }) {
  const { store } = session;
  useSignal(store.changed);
  const workers = [...store.workers.values()].sort((a, b) => a.id.localeCompare(b.id));
  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers</h1>
      <table aria-label="Workers" class="results">
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">State</th>
            <th scope="col">Version</th>
            <th scope="col">VMs</th>
            <th scope="col">Agents online</th>
            <th scope="col">Repeat window</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((worker) => {
            const vms = worker.info?.vms ?? [];
            const online = vms.filter((vm) => store.vms.get(vm.name)?.agent === "online").length;
            return (
              <tr key={worker.id}>
                <th scope="row">{worker.id}</th>
                <td>
                  <span class={`state state-${worker.state}`}>{worker.state}</span>
                </td>
                <td>{worker.info?.version ?? ""}</td>
                <td>{vms.length}</td>
                <td>{worker.state === "online" ? online : 0}</td>
                <td>
                  {worker.info?.repeat_window_s === undefined ? "" : `${worker.info.repeat_window_s} s`}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {workers.length === 0 ? (
        <p class="muted">No worker has announced itself on this broker (yet).</p>
      ) : null}
    </section>
  );
}
