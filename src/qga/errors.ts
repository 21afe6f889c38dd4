/**
 * The guest-agent client's errors. Each carries a stable `code` naming what went wrong with the agent, so a
 * caller can branch on it, log it or pass it on without a chain of instanceof tests.
 *
 * QgaError (code)
 * ├── AgentUnavailableError   agent_unavailable  cannot connect, sync failed, connection dropped, contention,
 * │                                              cut off for flooding its channel (GuestAgent.misbehaviour)
 * ├── AgentTimeoutError       timeout            no answer within the call's timeout
 * ├── AgentBusyError          busy               the agent's queue is full
 * ├── UnsupportedCommandError unsupported        guest-info says the command is missing or disabled
 * ├── FrozenError             frozen             filesystems are frozen and the command is refused meanwhile
 * ├── InvalidArgumentsError   invalid_arguments  arguments fail the command's schema (never sent)
 * ├── UnknownCommandError     unknown_command    not a guest-agent command
 * └── AgentReplyError         agent_error        the agent answered with an error, or an unusable reply
 */
export type QgaErrorCode =
  | "agent_unavailable"
  | "timeout"
  | "busy"
  | "unsupported"
  | "frozen"
  | "invalid_arguments"
  | "unknown_command"
  | "agent_error";

export abstract class QgaError extends Error {
  abstract readonly code: QgaErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class AgentUnavailableError extends QgaError {
  readonly code = "agent_unavailable";
}

export class AgentTimeoutError extends QgaError {
  readonly code = "timeout";
}

export class AgentBusyError extends QgaError {
  readonly code = "busy";
}

export class UnsupportedCommandError extends QgaError {
  readonly code = "unsupported";
}

export class FrozenError extends QgaError {
  readonly code = "frozen";
}

export class InvalidArgumentsError extends QgaError {
  readonly code = "invalid_arguments";
}

export class UnknownCommandError extends QgaError {
  readonly code = "unknown_command";
}

/**
 * The agent's own error (`errorClass`/`desc` as it sent them), or a reply we could not use: then
 * `errorClass` is ours, `ReplyTooLarge` or `InvalidReply`, so a reader can tell the two apart.
 */
export class AgentReplyError extends QgaError {
  readonly code = "agent_error";
  constructor(
    readonly errorClass: string,
    readonly desc: string,
    options?: { cause?: unknown },
  ) {
    super(`${errorClass}: ${desc}`, options);
  }
}
