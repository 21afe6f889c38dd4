import { bytes, offset } from "../format.js";
import type { Snapshot } from "../schemas.js";

/** The status snapshot made readable: OS, filesystems as bars, interfaces, users. */
export function VmStatus({ status }: { status: Snapshot | undefined }) {
  if (!status) return <p class="muted">No status snapshot yet.</p>;
  const os = status.os;
  return (
    <div class="status-grid">
      <section class="panel" aria-labelledby="os-title">
        <h2 id="os-title">System</h2>
        <dl>
          <dt>Host name</dt>
          <dd>{status.hostname ?? "–"}</dd>
          <dt>OS</dt>
          <dd>{os?.pretty_name ?? os?.name ?? "–"}</dd>
          <dt>Kernel</dt>
          <dd>
            {os?.kernel_release ?? "–"} {os?.machine ?? ""}
          </dd>
          <dt>Agent</dt>
          <dd>
            {status.agent} {status.agent_version ? `(qemu-ga ${status.agent_version})` : ""}
          </dd>
          <dt>vCPUs</dt>
          <dd>{status.vcpus ?? "–"}</dd>
          <dt>Time zone</dt>
          <dd>{status.timezone?.name ?? "–"}</dd>
          <dt>Clock offset</dt>
          <dd>{offset(status.time_offset_ms) || "–"}</dd>
          <dt>Updated</dt>
          <dd>{new Date(status.updated).toLocaleString()}</dd>
        </dl>
        {status.truncated ? <p class="warn">Cut by the bounds: {status.truncated.join(", ")}</p> : null}
      </section>
      <section class="panel" aria-labelledby="fs-title">
        <h2 id="fs-title">Filesystems</h2>
        <ul class="bars">
          {(status.filesystems ?? []).map((fs) => (
            <li key={fs.mountpoint}>
              <span class="mount">{fs.mountpoint}</span>{" "}
              <meter min={0} max={100} high={85} value={fs.used_pct} aria-label={`${fs.mountpoint} used`} />{" "}
              {fs.used_pct.toFixed(0)} % of {bytes(fs.total_bytes)} <span class="muted">{fs.type}</span>
            </li>
          ))}
        </ul>
      </section>
      <section class="panel" aria-labelledby="nic-title">
        <h2 id="nic-title">Interfaces</h2>
        <ul>
          {(status.interfaces ?? []).map((nic) => (
            <li key={nic.name}>
              <strong>{nic.name}</strong> {nic.mac ?? ""} {[...nic.ipv4, ...nic.ipv6].join(", ")}
              {nic.rx_bytes !== undefined ? (
                <span class="muted">
                  {" "}
                  rx {bytes(nic.rx_bytes)} tx {bytes(nic.tx_bytes ?? 0)}
                </span>
              ) : null}
            </li>
          ))}
        </ul>
      </section>
      <section class="panel" aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        {(status.users ?? []).length === 0 ? <p class="muted">nobody logged in</p> : null}
        <ul>
          {(status.users ?? []).map((user) => (
            <li key={`${user.name}-${user.login_time}`}>
              {user.domain ? `${user.domain}\\` : ""}
              {user.name} since {new Date(user.login_time).toLocaleString()}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
