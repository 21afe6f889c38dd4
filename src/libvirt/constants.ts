// Numbers of libvirt's RPC protocol, from src/rpc/virnetprotocol.x, src/remote/remote_protocol.x,
// src/remote/qemu_protocol.x and include/libvirt/libvirt-domain.h. They are wire ABI: libvirt never renumbers.

/** virNetMessageType. */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
} as const;

/** virNetMessageStatus. */
export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const;

/** VIR_NET_MESSAGE_MAX: the largest message, header and payload, not counting the length word. */
export const MESSAGE_MAX = 16_777_216;
/** VIR_NET_MESSAGE_LEN_MAX: the length word itself. */
export const MESSAGE_LEN_BYTES = 4;
/** The serialised virNetMessageHeader: six 4-byte fields. */
export const MESSAGE_HEADER_BYTES = 24;
/** VIR_NET_MESSAGE_STRING_MAX / REMOTE_STRING_MAX. */
export const STRING_MAX = 4_194_304;
/** REMOTE_DOMAIN_LIST_MAX. */
export const DOMAIN_LIST_MAX = 16_384;
/** REMOTE_AUTH_TYPE_LIST_MAX. */
export const AUTH_TYPE_LIST_MAX = 20;
/** VIR_UUID_BUFLEN. */
export const UUID_BYTES = 16;

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
export const QEMU_PROGRAM = 0x20008087;
export const QEMU_PROTOCOL_VERSION = 1;

/** remote_procedure: only those this client uses. */
export const RemoteProcedure = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_REBOOT: 27,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  DOMAIN_SHUTDOWN_FLAGS: 258,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE: 348,
} as const;

/** qemu_procedure. */
export const QemuProcedure = {
  DOMAIN_AGENT_COMMAND: 3,
} as const;

/** remote_auth_type. */
export const AuthType = {
  NONE: 0,
  SASL: 1,
  POLKIT: 2,
} as const;

/** virDomainEventID. */
export const DomainEventId = {
  LIFECYCLE: 0,
  AGENT_LIFECYCLE: 18,
} as const;

/** virConnectListAllDomainsFlags. */
export const CONNECT_LIST_DOMAINS_ACTIVE = 1;
/** virDomainShutdownFlagValues. */
export const DOMAIN_SHUTDOWN_GUEST_AGENT = 2;
/** virDomainRebootFlagValues. */
export const DOMAIN_REBOOT_GUEST_AGENT = 2;

/** virDomainEventType, indexed by its value. */
export const LIFECYCLE_EVENTS = [
  "defined",
  "undefined",
  "started",
  "suspended",
  "resumed",
  "stopped",
  "shutdown",
  "pmsuspended",
  "crashed",
] as const;

/** virConnectDomainEventAgentLifecycleState. */
export const AgentLifecycleState = {
  CONNECTED: 1,
  DISCONNECTED: 2,
} as const;
