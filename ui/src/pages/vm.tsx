import { useState } from "preact/hooks";
import { callVm, type Outcome } from "../call.js";
import { LineChart, type Series } from "../chart.js";
import { ConfirmDialog } from "../confirm-dialog.js";
import type { Session } from "../connection.js";
import { ExecConsole } from "../exec-console.js";
import { FilesPanel } from "../files-panel.js";
import type { Reading, VmEntry } from "../fleet-store.js";
import { OutcomeView } from "../outcome-view.js";
import { useSignal, useTick } from "../signal.js";
import { allowedButtons, POWER_VERBS } from "../verbs.js";
import { VmStatus } from "./vm-status.js";

export function VmPage({ session, name }: { session: Session; name: string }) {
  const { store } = session;
  useSignal(store.changed);
  const vm = store.vms.get(name);
  if (!vm) {
    return (
      <section>
        <h1>{name}</h1>
        <p class="muted">No worker has announced this VM (yet).</p>
      </section>
    );
  }
  const state = store.stateOf(vm);
  const commands = new Set(vm.commands ?? []);
  return (
    <section aria-labelledby="vm-title">
      <p>
        <a href="#/fleet">← Fleet</a>
      </p>
      <h1 id="vm-title">{vm.name}</h1>
      <p>
        <span class={`state state-${state}`}>{state}</span> on worker {vm.worker ?? "?"}
        {vm.groups.length ? ` · groups ${vm.groups.join(", ")}` : ""}
      </p>
      <VerbButtons session={session} vm={vm} />
      <VmStatus status={vm.status} />
      <Charts vm={vm} />
      {commands.has("exec") ? <ExecConsole session={session} vm={vm.name} /> : null}
      {commands.has("get-begin") || commands.has("put-begin") ? (
        <FilesPanel
          session={session}
          vm={vm.name}
          read={commands.has("get-begin")}
          write={commands.has("put-begin")}
        />
      ) : null}
      <VmEvents session={session} vm={vm.name} />
    </section>
  );
}

function VerbButtons({ session, vm }: { session: Session; vm: VmEntry }) {
  const [confirming, setConfirming] = useState<string | undefined>();
  const [last, setLast] = useState<{ command: string; outcome: Outcome | "pending" } | undefined>();
  const verbs = allowedButtons(vm.commands);
  const send = async (verb: string) => {
    setLast({ command: verb, outcome: "pending" });
    setLast({ command: verb, outcome: await callVm(session.requests, vm.name, verb, undefined) });
  };
  return (
    <section aria-labelledby="actions-title" class="panel">
      <h2 id="actions-title">Actions</h2>
      {vm.commands === undefined ? (
        <p class="muted">The worker does not say which commands its policy allows here.</p>
      ) : verbs.length === 0 ? (
        <p class="muted">The policy allows none of the buttons' verbs on this VM.</p>
      ) : null}
      <div class="buttons">
        {verbs.map((verb) => (
          <button
            key={verb}
            type="button"
            class={POWER_VERBS.has(verb) ? "danger" : ""}
            onClick={() => (POWER_VERBS.has(verb) ? setConfirming(verb) : void send(verb))}
          >
            {verb}
          </button>
        ))}
      </div>
      <div role="status" aria-label="Reply">
        {last ? <OutcomeView command={last.command} outcome={last.outcome} /> : null}
      </div>
      {confirming ? (
        <ConfirmDialog
          verb={confirming}
          vm={vm.name}
          onClose={() => setConfirming(undefined)}
          onConfirm={() => void send(confirming)}
        />
      ) : null}
    </section>
  );
}

/**
 * Readings since the page opened. A status comes when something changed or at the heartbeat, so each
 * reading holds until the next: the line is drawn on to now.
 */
function Charts({ vm }: { vm: VmEntry }) {
  // Ages and charts move on even when no status comes.
  useTick(5000);
  const now = Date.now();
  const series = (label: string, pick: (r: Reading) => number | undefined): Series => {
    const points = vm.readings.flatMap((r) => {
      const value = pick(r);
      return value === undefined ? [] : [[r.at, value] as const];
    });
    const last = points.at(-1);
    return { label, points: last ? [...points, [Math.max(now, last[0]), last[1]] as const] : points };
  };
  const load = series("load 1m", (r) => r.load);
  const cpu = series("CPU", (r) => r.cpu);
  const mounts = Object.keys(vm.readings.at(-1)?.fs ?? {}).slice(0, 4);
  const fs = mounts.map((mount) => series(mount, (r) => r.fs[mount]));
  return (
    <section aria-labelledby="charts-title" class="panel">
      <h2 id="charts-title">Since this page opened</h2>
      <div class="charts">
        {load.points.length ? <LineChart title="Load" series={[load]} unit="" /> : null}
        {cpu.points.length ? <LineChart title="CPU" series={[cpu]} max={100} unit=" %" /> : null}
        {!load.points.length && !cpu.points.length ? (
          <p class="muted">Load and CPU: not in this VM's status (load needs qemu-ga 10.0 or later).</p>
        ) : null}
        <LineChart title="Filesystem use" series={fs} max={100} unit=" %" />
      </div>
    </section>
  );
}

function VmEvents({ session, vm }: { session: Session; vm: string }) {
  const events = session.store.activity
    .filter((entry) => entry.vm === vm)
    .slice(-50)
    .reverse();
  return (
    <section aria-labelledby="events-title" class="panel">
      <h2 id="events-title">Events</h2>
      {events.length === 0 ? <p class="muted">No events since this page opened.</p> : null}
      <ul class="events">
        {events.map((entry) => (
          <li key={entry.seq}>
            <time>{new Date(entry.at).toLocaleTimeString()}</time> <strong>{entry.kind}</strong>{" "}
            {entry.detail}
          </li>
        ))}
      </ul>
    </section>
  );
}
