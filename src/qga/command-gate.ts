import { type AgentCapabilities, unsupportedReason } from "./capabilities.js";
import type { CommandSpec } from "./catalogue/define.js";
import { AgentReplyError, FrozenError, type QgaError, UnsupportedCommandError } from "./errors.js";

/** Why a command cannot be sent now, from what the agent supports and whether the guest is frozen. */
export function refusalBeforeSending(
  spec: CommandSpec,
  capabilities: AgentCapabilities | undefined,
  frozen: boolean,
): QgaError | undefined {
  const reason = capabilities && unsupportedReason(capabilities, spec.name);
  if (reason) return new UnsupportedCommandError(reason);
  if (frozen && !spec.allowedWhileFrozen) {
    return new FrozenError(
      `${spec.name} is refused while the guest's filesystems are frozen (thaw them first)`,
    );
  }
  return undefined;
}

/**
 * The agent disables most commands while frozen and says only "has been disabled"; if guest-info said
 * the command is enabled, the guest was frozen behind our back (e.g. by a backup): ask, and say so.
 */
export async function explainRefusal(
  spec: CommandSpec,
  error: unknown,
  freezeStatus: () => Promise<unknown>,
): Promise<unknown> {
  if (!(error instanceof AgentReplyError) || !/has been disabled/.test(error.desc)) return error;
  if (spec.allowedWhileFrozen) return new UnsupportedCommandError(error.desc, { cause: error });
  try {
    if ((await freezeStatus()) === "frozen")
      return new FrozenError(`${spec.name} is refused: the guest's filesystems are frozen`);
  } catch {
    // The original refusal is the better answer.
  }
  return new UnsupportedCommandError(error.desc, { cause: error });
}

/** Whether the guest is frozen after a command with this result, or undefined when the command says nothing. */
export function frozenAfter(name: string, result: unknown): boolean | undefined {
  if (name === "guest-fsfreeze-status") return result === "frozen";
  // The agent leaves its frozen state again at once when it froze nothing.
  if (name === "guest-fsfreeze-freeze" || name === "guest-fsfreeze-freeze-list")
    return typeof result === "number" && result > 0;
  if (name === "guest-fsfreeze-thaw") return false;
  return undefined;
}
