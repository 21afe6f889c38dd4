import type { AgentUnavailableError } from "./errors.js";
import type { Logger } from "./logger.js";
import type { ConductSink } from "./misbehaviour.js";
import type { ReplyLimits } from "./reply-limits.js";

export interface AgentRequest {
  readonly execute: string;
  readonly arguments?: Record<string, unknown>;
}

export interface SendOptions {
  readonly timeoutMs: number;
  /** False for commands that answer nothing on success (guest-shutdown, guest-suspend-*). */
  readonly replies: boolean;
}

/**
 * One open way to the agent, past its handshake: what GuestAgent drives. Two kinds exist: the socket
 * channel (AgentChannel: our own framing, sync and ids) and libvirt (LibvirtLink: libvirtd holds the
 * socket and does the sync; we send through its API).
 */
export interface AgentLink {
  /** Whether replies carry our ids (so requests may overlap and late replies are told apart). */
  readonly supportsIds: boolean;
  /** How many requests may be in flight at once. */
  readonly capacity: number;
  readonly inFlight: number;
  readonly isOpen: boolean;
  /** True while the link recovers: send only after `ready()` resolves. */
  readonly syncing: boolean;
  /** Resolves with the command's `return` value (undefined for a command without reply it accepted). */
  send(request: AgentRequest, options: SendOptions): Promise<unknown>;
  ready(): Promise<void>;
  onClose(listener: (error: AgentUnavailableError) => void): void;
  close(): void;
}

/** What opening a link needs to know, whatever the transport. */
export interface LinkOptions {
  readonly connectTimeoutMs: number;
  /** A reply line longer than this fails its call with `ReplyTooLarge` instead of being buffered. */
  readonly maxReplyBytes: number;
  /** How long the sync handshake may take before the agent counts as unavailable. */
  readonly syncTimeoutMs: number;
  /** Requests in flight at once where the agent echoes ids (it still runs them one after another). */
  readonly maxInFlight: number;
  /** What an earlier link to the same agent found; skips the id probe. */
  readonly assumeIds?: boolean;
  /** Bounds on a reply's nesting and size (past them a reply fails its call with `InvalidReply`). */
  readonly replyLimits?: ReplyLimits;
  /**
   * Where the link reports what the agent sends unasked or unusable, instead of a log line each (a guest
   * can send millions), and which may have the link cut off (a flood); unset: nobody counts.
   */
  readonly conduct?: ConductSink;
  readonly log: Logger;
}

/**
 * Opens a link, or fails with AgentUnavailableError saying why in words. `whenReady`, where the transport
 * can tell, calls back when the agent has just become reachable (libvirt's agent-connected event), so the
 * client tries at once instead of at its next backoff; returns the unsubscribe function.
 */
export type LinkOpener = ((options: LinkOptions) => Promise<AgentLink>) & {
  readonly whenReady?: (notify: () => void) => () => void;
};
