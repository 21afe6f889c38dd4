/**
 * What one agent can do, from its `guest-info`: asked once per connection (or per `profileTtlMs` where
 * connections are short-lived), so a missing or disabled command fails as `unsupported` without a round
 * trip.
 */
export interface AgentCapabilities {
  /** The agent's version string, e.g. "7.2.22". */
  readonly version: string;
  /** Whether the agent echoes request ids (QEMU 4.0+). */
  readonly supportsIds: boolean;
  /** Every command the agent knows, with whether it is enabled (not blocked by `-b`/`--allow-rpcs`). */
  readonly commands: ReadonlyMap<string, { readonly enabled: boolean; readonly successResponse: boolean }>;
}

export interface GuestInfoLike {
  readonly version: string;
  readonly supported_commands: ReadonlyArray<{
    readonly name: string;
    readonly enabled: boolean;
    readonly "success-response": boolean;
  }>;
}

export function capabilitiesFromInfo(info: GuestInfoLike, supportsIds: boolean): AgentCapabilities {
  const commands = new Map(
    info.supported_commands.map((c) => [
      c.name,
      { enabled: c.enabled, successResponse: c["success-response"] },
    ]),
  );
  return { version: info.version, supportsIds, commands };
}

/** Why `command` cannot run on this agent, or undefined when it can. */
export function unsupportedReason(capabilities: AgentCapabilities, command: string): string | undefined {
  const entry = capabilities.commands.get(command);
  if (!entry) return `the guest agent (version ${capabilities.version}) does not have ${command}`;
  if (!entry.enabled) return `${command} is disabled in the guest agent's configuration`;
  return undefined;
}

export function isEnabled(capabilities: AgentCapabilities | undefined, command: string): boolean {
  return capabilities !== undefined && unsupportedReason(capabilities, command) === undefined;
}
