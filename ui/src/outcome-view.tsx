import type { Outcome } from "./call.js";
import { json, millis } from "./format.js";

/** An outcome as the page shows it: ok with the result, the error code and message, a refusal, no reply. */
export function OutcomeView({ command, outcome }: { command: string; outcome: Outcome | "pending" }) {
  if (outcome === "pending") return <p>{command}: waiting for the reply…</p>;
  if (outcome.kind !== "reply") {
    return (
      <p class={outcome.kind === "refused" ? "error" : "warn"}>
        {command}: {outcome.message}
      </p>
    );
  }
  const { reply } = outcome;
  return (
    <div>
      <p class={reply.ok ? "ok" : "error"}>
        {command}: {reply.ok ? "ok" : `${reply.error?.code ?? "error"}: ${reply.error?.message ?? ""}`} (
        {millis(reply.ms)})
      </p>
      {reply.ok && reply.result !== undefined ? <pre class="result">{json(reply.result)}</pre> : null}
    </div>
  );
}
