import { AgentReplyError, QgaError } from "./qga/errors.js";

/** The stable error codes of the MQTT interface (shared/spec/mqtt-api.md); replies carry exactly these. */
export const ERROR_CODES = [
  "invalid_payload",
  "invalid_arguments",
  "unknown_command",
  "forbidden",
  "retained_command",
  "agent_unavailable",
  "unsupported",
  "frozen",
  "timeout",
  "busy",
  "interrupted",
  "duplicate",
  "agent_error",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error the worker answers a request with: a code from the contract and words a person understands. */
export class WorkerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "WorkerError";
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;
}

/** The reply's `error` member for any thrown value; anything not ours is a bug (`internal`). */
export interface ReplyError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly class?: string;
  readonly desc?: string;
  readonly [key: string]: unknown;
}

export function toReplyError(error: unknown): ReplyError {
  if (error instanceof WorkerError) return { code: error.code, message: error.message, ...error.details };
  // The guest-agent library's codes are reply codes as they stand: the contract took over its words for what
  // goes wrong with an agent, so no table is kept in step; a code the library adds that the contract lacks
  // fails to compile here.
  if (error instanceof QgaError) {
    if (error instanceof AgentReplyError) {
      return { code: error.code, message: error.message, class: error.errorClass, desc: error.desc };
    }
    return { code: error.code, message: error.message };
  }
  return { code: "internal", message: "internal error in the worker (logged with a stack)" };
}

export function isInternal(error: unknown): boolean {
  return !(error instanceof WorkerError) && !(error instanceof QgaError);
}
