import { setTimeout as sleep } from "node:timers/promises";
import { argsObject } from "../../qga/catalogue/scalars.js";
import type { GuestAgent } from "../../qga/client.js";
import { AgentTimeoutError } from "../../qga/errors.js";
import { defineVerb, type VerbContext } from "./verb.js";

type PowerVerb = "shutdown" | "reboot" | "halt";
type ShutdownMode = "powerdown" | "reboot" | "halt";

/** How often the agent that accepted a power change is asked whether it still answers, and how long it may take. */
const PROBE_EVERY_MS = 500;
const PROBE_TIMEOUT_MS = 1_000;
/** An agent that still answers after this long is not going down after all (a delayed or blocked shutdown). */
const WATCH_FOR_MS = 120_000;

/**
 * `guest-shutdown` answers nothing on success, so "accepted" is what the client can know: the agent
 * answered the sync written right behind the command with no error before it, or the channel closed
 * (the guest went down before the sync was read). A refusal by the guest (bad mode, the shutdown program
 * failing, the command disabled) is the agent's error, answered as `agent_error` or `unsupported`.
 * The reply does not wait for the guest to go down; its availability tells that (see watchGoingDown).
 */
function powerVerb(name: PowerVerb, mode: ShutdownMode) {
  return defineVerb({
    name,
    args: argsObject({}),
    async run(context) {
      await context.agent.call("guest-shutdown", { mode }, { timeoutMs: context.timeoutMs });
      context.log.info({ command: name, mode }, "the guest agent accepted the power change");
      watchGoingDown(context);
      return { accepted: true, mode };
    },
  });
}

export const shutdown = powerVerb("shutdown", "powerdown");
export const reboot = powerVerb("reboot", "reboot");
export const halt = powerVerb("halt", "halt");

const watching = new WeakSet<GuestAgent>();

/**
 * Makes the agent's end visible. A VM's chardev socket stays connected while QEMU runs, through a guest
 * reboot: nothing closes, and requests written while the guest is down wait in the channel until the new
 * agent answers them. A reboot faster than a status poll's timeout was therefore never seen offline (seen
 * on the test VMs with the default timeouts). So the dying agent is pinged until a ping goes unanswered:
 * the client then resyncs, the resync fails while the guest is down, and the client reports the agent
 * offline; after a reboot it reconnects and reports it online once the new agent answers (hold policy; with
 * linger, at the next call). Runs in the background, one watch per agent, and ends when the agent is
 * offline, when a ping fails other than by timeout (the worker stopping), or after WATCH_FOR_MS.
 */
function watchGoingDown({ agent, log }: VerbContext): void {
  if (agent.state === "offline" || watching.has(agent)) return;
  watching.add(agent);
  let offline = false;
  const unsubscribe = agent.onStateChange((state) => {
    if (state === "offline") offline = true;
  });
  const until = Date.now() + WATCH_FOR_MS;
  const watch = async (): Promise<void> => {
    while (!offline && Date.now() < until) {
      await sleep(PROBE_EVERY_MS);
      if (offline) return;
      try {
        await agent.call("guest-ping", {}, { timeoutMs: PROBE_TIMEOUT_MS });
      } catch (error) {
        if (!(error instanceof AgentTimeoutError)) return;
      }
    }
    if (!offline)
      log.warn({ seconds: WATCH_FOR_MS / 1000 }, "the guest still answers long after a power change");
  };
  void watch().finally(() => {
    unsubscribe();
    watching.delete(agent);
  });
}
