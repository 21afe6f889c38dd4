import { type AgentCapabilities, capabilitiesFromInfo, unsupportedReason } from "./capabilities.js";
import { catalogue } from "./catalogue/index.js";
import { AgentReplyError, AgentUnavailableError } from "./errors.js";
import type { AgentLink, LinkOpener, LinkOptions } from "./link.js";
import { describeIssues } from "./validation.js";

/** What a new connection's handshake found out about the agent. */
export interface Handshake {
  readonly link: AgentLink;
  /** Learned now (`guest-info`), or the still-trusted ones handed in. */
  readonly capabilities: AgentCapabilities;
  /** Whether the guest's filesystems are frozen, where the agent was asked (only when learned now). */
  readonly frozen?: boolean;
}

/**
 * Opens a link and learns what the agent can do: `guest-info` (and, where served, whether its filesystems
 * are frozen), unless `known` capabilities of an earlier connection are still trusted (then the link also
 * skips its id probe). Fails with AgentUnavailableError, the link closed; `abandoned` is asked once the
 * handshake is through, so that a client stopped meanwhile gets no open link.
 */
export async function handshake(
  open: LinkOpener,
  options: Omit<LinkOptions, "assumeIds">,
  known: AgentCapabilities | undefined,
  abandoned: () => boolean,
): Promise<Handshake> {
  let link: AgentLink | undefined;
  try {
    link = await open(known ? { ...options, assumeIds: known.supportsIds } : options);
    const learned = known ? { capabilities: known } : await learn(link, options.syncTimeoutMs);
    if (abandoned()) throw new AgentUnavailableError("the guest-agent client was stopped");
    return { link, ...learned };
  } catch (error) {
    link?.close();
    if (error instanceof AgentUnavailableError) throw error;
    throw new AgentUnavailableError(`the agent's handshake failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function learn(
  link: AgentLink,
  timeoutMs: number,
): Promise<{ capabilities: AgentCapabilities; frozen?: boolean }> {
  const raw = await link.send({ execute: "guest-info" }, { timeoutMs, replies: true });
  const info = catalogue["guest-info"].result.safeParse(raw);
  if (!info.success) {
    throw new AgentReplyError("InvalidReply", `guest-info returned ${describeIssues(info.error, "result")}`);
  }
  const capabilities = capabilitiesFromInfo(info.data, link.supportsIds);
  if (unsupportedReason(capabilities, "guest-fsfreeze-status") !== undefined) return { capabilities };
  const status = await link.send({ execute: "guest-fsfreeze-status" }, { timeoutMs, replies: true });
  return { capabilities, frozen: status === "frozen" };
}
