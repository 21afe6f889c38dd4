import { STRING_MAX, UUID_BYTES } from "./constants.js";
import { XdrReader } from "./xdr.js";

/**
 * virErrorNumber values (include/libvirt/virterror.h) an adapter may branch on. AGENT_COMMAND_TIMEOUT and
 * AGENT_COMMAND_FAILED exist since libvirt 9.10; older daemons (Debian 12 has 9.0) report an agent's own
 * error as INTERNAL_ERROR and a command that timed out as OPERATION_TIMEOUT or AGENT_UNRESPONSIVE.
 */
export const ErrorNumber = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  OPERATION_FAILED: 9,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  AUTH_FAILED: 45,
  OPERATION_INVALID: 55,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  AUTH_UNAVAILABLE: 94,
  AGENT_UNSYNCED: 97,
  AGENT_COMMAND_TIMEOUT: 112,
  AGENT_COMMAND_FAILED: 113,
} as const;

/** virErrorDomain values: where in libvirt an error was raised. */
export const ErrorDomain = {
  NONE: 0,
  RPC: 7,
  QEMU: 10,
  REMOTE: 13,
  DOMAIN: 20,
} as const;

export const NO_DOMAIN = ErrorNumber.NO_DOMAIN;
export const OPERATION_INVALID = ErrorNumber.OPERATION_INVALID;
export const OPERATION_TIMEOUT = ErrorNumber.OPERATION_TIMEOUT;
export const AGENT_UNRESPONSIVE = ErrorNumber.AGENT_UNRESPONSIVE;
export const AGENT_UNSYNCED = ErrorNumber.AGENT_UNSYNCED;
export const AGENT_COMMAND_TIMEOUT = ErrorNumber.AGENT_COMMAND_TIMEOUT;
export const AGENT_COMMAND_FAILED = ErrorNumber.AGENT_COMMAND_FAILED;
export const INTERNAL_ERROR = ErrorNumber.INTERNAL_ERROR;
export const ARGUMENT_UNSUPPORTED = ErrorNumber.ARGUMENT_UNSUPPORTED;
export const OPERATION_UNSUPPORTED = ErrorNumber.OPERATION_UNSUPPORTED;

/**
 * An error from libvirtd (decoded from its remote_error reply) or from this client (connection and protocol
 * failures, with code RPC / SYSTEM_ERROR / OPERATION_TIMEOUT and domain RPC).
 */
export class LibvirtError extends Error {
  /** virErrorNumber. */
  readonly code: number;
  /** virErrorDomain. */
  readonly domain: number;
  /** virErrorLevel: 1 warning, 2 error. */
  readonly level: number;

  constructor(
    message: string,
    fields: { code: number; domain: number; level?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LibvirtError";
    this.code = fields.code;
    this.domain = fields.domain;
    this.level = fields.level ?? 2;
  }
}

/** An error raised on our side of the socket: libvirtd never answered, or answered nonsense. */
export function rpcError(message: string, code: number = ErrorNumber.RPC, cause?: unknown): LibvirtError {
  return new LibvirtError(
    message,
    { code, domain: ErrorDomain.RPC },
    cause === undefined ? undefined : { cause },
  );
}

function skipDomain(reader: XdrReader): void {
  reader.string(STRING_MAX);
  reader.fixedOpaque(UUID_BYTES);
  reader.int();
}

function skipNetwork(reader: XdrReader): void {
  reader.string(STRING_MAX);
  reader.fixedOpaque(UUID_BYTES);
}

/** Decodes a remote_error (the payload of a REPLY with status ERROR). */
export function decodeRemoteError(payload: Buffer): LibvirtError {
  const reader = new XdrReader(payload);
  const code = reader.int();
  const domain = reader.int();
  const message = reader.optional((r) => r.string(STRING_MAX));
  const level = reader.int();
  // The rest (dom, str1..3, int1..2, net) is legacy detail that message already states.
  reader.optional(skipDomain);
  reader.optional((r) => r.string(STRING_MAX));
  reader.optional((r) => r.string(STRING_MAX));
  reader.optional((r) => r.string(STRING_MAX));
  reader.int();
  reader.int();
  reader.optional(skipNetwork);
  return new LibvirtError(message ?? `libvirt error ${code} (domain ${domain}) without a message`, {
    code,
    domain,
    level,
  });
}
