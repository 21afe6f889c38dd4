import { useState } from "preact/hooks";
import { callVm, type Outcome } from "./call.js";
import type { Session } from "./connection.js";
import { millis } from "./format.js";

/** exec's result (README "exec and exec-status"); read loosely, only to show it. */
interface ExecResult {
  pid?: number;
  exited?: boolean;
  exit_code?: number;
  signal?: number;
  stdout?: string;
  stderr?: string;
  stdout_encoding?: string;
  stderr_encoding?: string;
  ms?: number;
}

type Run =
  | { state: "running"; note: string }
  | { state: "done"; result: ExecResult }
  | { state: "failed"; message: string };

const EXEC_TIMEOUT_S = 30;
const POLL_MS = 1000;

/**
 * Program, arguments (one a line), stdin → `exec`; when the request's timeout passes first, the reply
 * names the pid and the console asks `exec-status` until the program exits (README).
 */
export function ExecConsole({ session, vm }: { session: Session; vm: string }) {
  const [program, setProgram] = useState("");
  const [args, setArgs] = useState("");
  const [stdin, setStdin] = useState("");
  const [run, setRun] = useState<Run | undefined>();
  const start = async (event: Event) => {
    event.preventDefault();
    if (program.trim() === "") return;
    setRun({ state: "running", note: "running…" });
    const argv = args === "" ? [] : args.split("\n");
    const outcome = await callVm(
      session.requests,
      vm,
      "exec",
      { path: program.trim(), ...(argv.length ? { args: argv } : {}), ...(stdin ? { stdin } : {}) },
      EXEC_TIMEOUT_S,
    );
    setRun(await follow(session, vm, outcome, setRun));
  };
  return (
    <section aria-labelledby="exec-title" class="panel">
      <h2 id="exec-title">Exec</h2>
      <form onSubmit={start} class="exec-form">
        <label>
          Program
          <input value={program} placeholder="/bin/sh" onInput={(e) => setProgram(e.currentTarget.value)} />
        </label>
        <label>
          Arguments
          <textarea
            rows={2}
            placeholder="one argument a line"
            value={args}
            onInput={(e) => setArgs(e.currentTarget.value)}
          />
        </label>
        <label>
          Stdin
          <textarea rows={2} value={stdin} onInput={(e) => setStdin(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={run?.state === "running"}>
          Run
        </button>
      </form>
      <div role="status" aria-label="Exec result">
        {run ? <RunView run={run} /> : null}
      </div>
    </section>
  );
}

async function follow(
  session: Session,
  vm: string,
  first: Outcome,
  setRun: (run: Run) => void,
): Promise<Run> {
  if (first.kind !== "reply") return { state: "failed", message: first.message };
  const { reply } = first;
  const error = reply.error as { code: string; message: string; pid?: unknown } | undefined;
  if (!reply.ok && error?.code === "timeout" && typeof error.pid === "number") {
    return poll(session, vm, error.pid, setRun);
  }
  if (!reply.ok) return { state: "failed", message: `${error?.code}: ${error?.message}` };
  return { state: "done", result: (reply.result ?? {}) as ExecResult };
}

async function poll(session: Session, vm: string, pid: number, setRun: (run: Run) => void): Promise<Run> {
  for (;;) {
    setRun({ state: "running", note: `still running as pid ${pid}; asking exec-status…` });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const outcome = await callVm(session.requests, vm, "exec-status", { pid }, 10);
    if (outcome.kind !== "reply") return { state: "failed", message: outcome.message };
    const { reply } = outcome;
    if (!reply.ok) return { state: "failed", message: `${reply.error?.code}: ${reply.error?.message}` };
    const result = (reply.result ?? {}) as ExecResult;
    if (result.exited) return { state: "done", result };
  }
}

function RunView({ run }: { run: Run }) {
  if (run.state === "running") return <p>{run.note}</p>;
  if (run.state === "failed") return <p class="error">{run.message}</p>;
  const { result } = run;
  const ending =
    result.signal !== undefined ? `killed by signal ${result.signal}` : `exit code ${result.exit_code}`;
  return (
    <div class="exec-result">
      <p class={result.exit_code === 0 ? "ok" : "warn"}>
        {ending} · pid {result.pid} · {millis(result.ms)}
      </p>
      <section aria-labelledby="exec-stdout">
        <h3 id="exec-stdout">stdout{result.stdout_encoding === "base64" ? " (base64)" : ""}</h3>
        <pre>{result.stdout}</pre>
      </section>
      <section aria-labelledby="exec-stderr">
        <h3 id="exec-stderr">stderr{result.stderr_encoding === "base64" ? " (base64)" : ""}</h3>
        <pre>{result.stderr}</pre>
      </section>
    </div>
  );
}
