import { useMemo, useState } from "preact/hooks";
import { type ArgsDraft, argsChoiceOf, draftFor, outcomeOf } from "../args-draft.js";
import { ArgsEditor } from "../args-editor.js";
import type { Session } from "../connection.js";
import { json, millis } from "../format.js";
import { type ResultRow, runMany } from "../run-many.js";
import { useSignal } from "../signal.js";
import { ALL_VERBS } from "../verbs.js";

type Scope = "all" | "group" | "vms";
const OTHER = "__other__";

export function RunPage({ session }: { session: Session }) {
  const { store } = session;
  useSignal(store.changed);
  const [scope, setScope] = useState<Scope>("all");
  const [group, setGroup] = useState("");
  const [picked, setPicked] = useState<ReadonlySet<string>>(new Set());
  const [command, setCommand] = useState("ping");
  const [raw, setRaw] = useState("");
  const [draft, setDraft] = useState<ArgsDraft>(() => draftFor(argsChoiceOf("ping")));
  const [timeout, setTimeoutSeconds] = useState(30);
  const [rows, setRows] = useState<ResultRow[]>([]);
  const [running, setRunning] = useState(false);
  const [problem, setProblem] = useState("");
  const names = [...store.vms.keys()].sort();
  const groups = store.groups().filter((g) => g !== "all");
  const offered = new Set<string>();
  for (const vm of store.vms.values()) for (const c of vm.commands ?? []) offered.add(c);
  const verbs = ALL_VERBS.filter((verb) => offered.has(verb));
  const rawCommands = [...offered].filter((c) => c.startsWith("guest-")).sort();
  const chosenGroup = group || groups[0] || "";
  const name = command === OTHER ? raw.trim() : command;
  const choice = useMemo(() => argsChoiceOf(name), [name]);
  const outcome = outcomeOf(choice, draft);
  /** A new command starts with its own empty arguments; JSON typed while naming one is kept. */
  const choose = (nextCommand: string, nextRaw: string) => {
    const next = nextCommand === OTHER ? nextRaw.trim() : nextCommand;
    setCommand(nextCommand);
    setRaw(nextRaw);
    if (next !== name) {
      setDraft(draftFor(argsChoiceOf(next), nextCommand === OTHER && command === OTHER ? draft.text : ""));
    }
  };
  const run = async (event: Event) => {
    event.preventDefault();
    if ("blocker" in outcome) return setProblem(outcome.blocker);
    const { args } = outcome;
    if (name === "") return setProblem("Name a command.");
    const expected =
      scope === "all"
        ? names
        : scope === "group"
          ? names.filter((vm) => store.vms.get(vm)?.groups.includes(chosenGroup))
          : names.filter((vm) => picked.has(vm));
    if (expected.length === 0) return setProblem("No VM is selected.");
    setProblem("");
    setRunning(true);
    const target =
      scope === "all" ? { group: "all" } : scope === "group" ? { group: chosenGroup } : { vms: expected };
    const final = await runMany(
      session.requests,
      { target, expected, command: name, ...(args ? { args } : {}), timeoutSeconds: timeout },
      setRows,
    );
    setRunning(false);
    const refused = final.find((row) => row.outcome === "refused");
    if (refused) setProblem(refused.message ?? "the broker refused");
  };
  const exportJson = () => {
    const url = URL.createObjectURL(new Blob([json(rows)], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `qga-results-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const done = rows.filter((row) => row.outcome !== "waiting").length;
  return (
    <section aria-labelledby="run-title">
      <h1 id="run-title">Run on many</h1>
      <form onSubmit={run} class="run-form">
        <fieldset>
          <legend>Target</legend>
          {(["all", "group", "vms"] as const).map((value) => (
            <label key={value}>
              <input type="radio" name="scope" checked={scope === value} onChange={() => setScope(value)} />
              {value === "all" ? "All VMs" : value === "group" ? "A group" : "Selected VMs"}
            </label>
          ))}
          {scope === "group" ? (
            <label>
              Group
              <select value={chosenGroup} onChange={(e) => setGroup(e.currentTarget.value)}>
                {groups.map((g) => (
                  <option key={g}>{g}</option>
                ))}
              </select>
            </label>
          ) : null}
          {scope === "vms" ? (
            <fieldset class="pick">
              <legend>VMs</legend>
              {names.map((vm) => (
                <label key={vm}>
                  <input
                    type="checkbox"
                    checked={picked.has(vm)}
                    onChange={(e) => {
                      const next = new Set(picked);
                      if (e.currentTarget.checked) next.add(vm);
                      else next.delete(vm);
                      setPicked(next);
                    }}
                  />
                  {vm}
                </label>
              ))}
            </fieldset>
          ) : null}
        </fieldset>
        <fieldset>
          <legend>Command</legend>
          <label>
            Command
            <select value={command} onChange={(e) => choose(e.currentTarget.value, raw)}>
              {(verbs.length ? verbs : ["ping"]).map((verb) => (
                <option key={verb}>{verb}</option>
              ))}
              {rawCommands.map((c) => (
                <option key={c}>{c}</option>
              ))}
              <option value={OTHER}>other…</option>
            </select>
          </label>
          {command === OTHER ? (
            <label>
              Command name
              <input
                value={raw}
                placeholder="guest-get-osinfo"
                onInput={(e) => choose(OTHER, e.currentTarget.value)}
              />
            </label>
          ) : null}
          <label>
            Timeout (s)
            <input
              type="number"
              min={1}
              max={3600}
              value={timeout}
              onInput={(e) => setTimeoutSeconds(Number(e.currentTarget.value) || 30)}
            />
          </label>
        </fieldset>
        <ArgsEditor choice={choice} draft={draft} onDraft={setDraft} />
        <button
          type="submit"
          disabled={running || "blocker" in outcome}
          aria-describedby={"blocker" in outcome ? "run-blocker" : undefined}
        >
          Run
        </button>
        <button type="button" disabled={rows.length === 0} onClick={exportJson}>
          Export JSON
        </button>
        {"blocker" in outcome ? (
          <p id="run-blocker" class="blocker">
            {outcome.blocker}
          </p>
        ) : null}
      </form>
      <div role="status" aria-label="Run status">
        {problem ? <p class="error">{problem}</p> : null}
        {rows.length ? (
          <p>
            {done} of {rows.length} answered{running ? "…" : ""}
          </p>
        ) : null}
      </div>
      <ResultsTable rows={rows} />
    </section>
  );
}

function ResultsTable({ rows }: { rows: readonly ResultRow[] }) {
  return (
    <table aria-label="Results" class="results">
      <thead>
        <tr>
          <th scope="col">VM</th>
          <th scope="col">Outcome</th>
          <th scope="col">Error</th>
          <th scope="col">ms</th>
          <th scope="col">Result</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.vm}>
            <th scope="row">{row.vm}</th>
            <td class={`outcome-${row.outcome.replace(" ", "-")}`}>{row.outcome}</td>
            <td>{row.code ? `${row.code}: ${row.message ?? ""}` : (row.message ?? "")}</td>
            <td>{millis(row.ms)}</td>
            <td>
              <code>{row.result === undefined ? "" : JSON.stringify(row.result)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
