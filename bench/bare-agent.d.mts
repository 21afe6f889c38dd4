// Types of bench/bare-agent.mjs (plain JavaScript, so that the echo relay can use it without a loader).

export interface BareAgentSocket {
  /** One `guest-ping`, resolved by its answer; one at a time. */
  ping(): Promise<void>;
  close(): void;
}

export function bareAgentSocket(socketPath: string): Promise<BareAgentSocket>;
