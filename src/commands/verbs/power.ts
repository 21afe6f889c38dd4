import { argsObject } from "../../qga/catalogue/scalars.js";
import { defineVerb } from "./verb.js";

type PowerVerb = "shutdown" | "reboot" | "halt";
type ShutdownMode = "powerdown" | "reboot" | "halt";

/**
 * `guest-shutdown` answers nothing on success, so "accepted" is what the client can know: the agent
 * answered the sync written right behind the command with no error before it, or the channel closed
 * (the guest went down before the sync was read). A refusal by the guest (bad mode, the shutdown program
 * failing, the command disabled) is the agent's error, answered as `agent_error` or `unsupported`.
 * The reply does not wait for the guest to go down; its availability tells that (the client watches the
 * agent until it stops answering: qga/going-down.ts).
 */
function powerVerb(name: PowerVerb, mode: ShutdownMode) {
  return defineVerb({
    name,
    set: "power",
    args: argsObject({}),
    async run(context) {
      await context.agent.call("guest-shutdown", { mode }, { timeoutMs: context.timeoutMs });
      context.log.info({ command: name, mode }, "the guest agent accepted the power change");
      return { accepted: true, mode };
    },
  });
}

export const shutdown = powerVerb("shutdown", "powerdown");
export const reboot = powerVerb("reboot", "reboot");
export const halt = powerVerb("halt", "halt");
