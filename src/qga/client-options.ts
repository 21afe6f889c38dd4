import type { AgentAddress } from "./address.js";
import type { ConductOptions } from "./conduct.js";
import type { LinkOpener } from "./link.js";
import type { Logger } from "./logger.js";
import { DEFAULT_REPLY_LIMITS, type ReplyLimits } from "./reply-limits.js";

/**
 * How the client holds the agent's socket.
 * - `hold`: one connection kept open and re-opened when it drops: fastest, for sockets nobody else uses.
 * - `linger`: connect on demand, close after `idleMs` without calls (0: one connection per command). The
 *   agent serves one client at a time, so this is what a host whose own tools use the socket needs
 *   (Proxmox freezes filesystems through it for backups).
 */
export type ConnectionPolicy =
  | { readonly mode: "hold" }
  | { readonly mode: "linger"; readonly idleMs: number };

export interface GuestAgentOptions {
  /** A unix socket path, `tcp://host:port`, or `libvirt:<domain>` (then `open` is required). */
  readonly address: string | AgentAddress;
  /** How to reach the agent; default: a socket of our own to `address`. */
  readonly open?: LinkOpener;
  readonly policy?: ConnectionPolicy;
  /** Default per-call timeout. */
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** The handshake's own timeout; also how long a socket held by another client takes to report so. */
  readonly syncTimeoutMs?: number;
  /** Calls waiting for the agent beyond those in flight; over it, `busy`. */
  readonly maxQueue?: number;
  /** What the waiting calls may hold, all together (their arguments, and a few hundred bytes each). */
  readonly maxQueueBytes?: number;
  readonly maxInFlight?: number;
  /** The largest reply line accepted, in bytes. */
  readonly maxReplyBytes?: number;
  /** The deepest nesting of a reply line accepted (default 64): see reply-limits.ts. */
  readonly maxReplyDepth?: number;
  /** The most values in a reply line accepted (default 1,000,000): see reply-limits.ts. */
  readonly maxReplyNodes?: number;
  /** When an agent counts as flooding its channel, and how long it is then cut off: see conduct.ts. */
  readonly flood?: Partial<ConductOptions>;
  /** Reconnect backoff of the `hold` policy. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long `guest-info` and id support stay trusted across short-lived (`linger`) connections. */
  readonly profileTtlMs?: number;
  readonly log?: Logger;
}

/** The options of GuestAgentOptions that have a default, with it filled in where unset. */
export type ClientSettings = Required<
  Omit<GuestAgentOptions, "address" | "log" | "open" | "maxReplyDepth" | "maxReplyNodes" | "flood">
>;

const DEFAULTS = {
  timeoutMs: 30_000,
  connectTimeoutMs: 3_000,
  syncTimeoutMs: 3_000,
  maxQueue: 10_000,
  maxQueueBytes: 16 * 1024 * 1024,
  maxInFlight: 8,
  maxReplyBytes: 24 * 1024 * 1024,
  backoff: { initialMs: 250, maxMs: 5_000 },
  profileTtlMs: 300_000,
} as const;

export function clientSettings(options: GuestAgentOptions): ClientSettings {
  return {
    policy: options.policy ?? { mode: "hold" },
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    syncTimeoutMs: options.syncTimeoutMs ?? DEFAULTS.syncTimeoutMs,
    maxQueue: options.maxQueue ?? DEFAULTS.maxQueue,
    maxQueueBytes: options.maxQueueBytes ?? DEFAULTS.maxQueueBytes,
    maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
    maxReplyBytes: options.maxReplyBytes ?? DEFAULTS.maxReplyBytes,
    backoff: options.backoff ?? DEFAULTS.backoff,
    profileTtlMs: options.profileTtlMs ?? DEFAULTS.profileTtlMs,
  };
}

export function replyLimitsOf(options: GuestAgentOptions): ReplyLimits {
  return {
    maxDepth: options.maxReplyDepth ?? DEFAULT_REPLY_LIMITS.maxDepth,
    maxNodes: options.maxReplyNodes ?? DEFAULT_REPLY_LIMITS.maxNodes,
  };
}
