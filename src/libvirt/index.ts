// A client of libvirt's RPC protocol over the local unix socket, in TypeScript: list and look up domains,
// send guest-agent commands, shut down or reboot through the agent, and receive domain events.
export { LibvirtConnection, type LibvirtConnectionOptions } from "./connection.js";
export type { DomainRef } from "./domain.js";
export {
  AGENT_COMMAND_FAILED,
  AGENT_COMMAND_TIMEOUT,
  AGENT_UNRESPONSIVE,
  AGENT_UNSYNCED,
  ARGUMENT_UNSUPPORTED,
  decodeRemoteError,
  ErrorDomain,
  ErrorNumber,
  INTERNAL_ERROR,
  LibvirtError,
  NO_DOMAIN,
  OPERATION_INVALID,
  OPERATION_TIMEOUT,
  OPERATION_UNSUPPORTED,
} from "./errors.js";
export type { DomainEvent, LifecycleEventName } from "./events.js";
export type { RpcLog } from "./rpc-client.js";
export { LibvirtUriError, resolveUri, systemSocketExists } from "./uri.js";
