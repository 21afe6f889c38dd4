// Argument and return structs of the procedures this client calls, and the event messages it receives, as
// laid out in remote_protocol.x and qemu_protocol.x.
import {
  AgentLifecycleState,
  AUTH_TYPE_LIST_MAX,
  DOMAIN_LIST_MAX,
  LIFECYCLE_EVENTS,
  STRING_MAX,
  UUID_BYTES,
} from "./constants.js";
import type { DomainRef } from "./domain.js";
import type { DomainEvent } from "./events.js";
import { XdrError, XdrReader, XdrWriter } from "./xdr.js";

export function uuidToString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Accepts the dashed form or 32 bare hex digits. */
export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new XdrError(`not a UUID: ${JSON.stringify(uuid)}`);
  return Buffer.from(hex, "hex");
}

export function writeDomain(writer: XdrWriter, domain: DomainRef): void {
  writer.string(domain.name, STRING_MAX);
  writer.fixedOpaque(uuidToBytes(domain.uuid), UUID_BYTES);
  writer.int(domain.id);
}

export function readDomain(reader: XdrReader): DomainRef {
  const name = reader.string(STRING_MAX);
  const uuid = uuidToString(reader.fixedOpaque(UUID_BYTES));
  const id = reader.int();
  return { name, uuid, id };
}

const EMPTY = Buffer.alloc(0);

// ---- remote program ----

export function encodeConnectOpenArgs(name: string | null, flags = 0): Buffer {
  return new XdrWriter()
    .optional(name, (w, v) => w.string(v, STRING_MAX))
    .uint(flags)
    .toBuffer();
}

export function decodeAuthListRet(payload: Buffer): number[] {
  const reader = new XdrReader(payload);
  const types = reader.array((r) => r.int(), AUTH_TYPE_LIST_MAX);
  reader.end("remote_auth_list_ret");
  return types;
}

export function decodeAuthPolkitRet(payload: Buffer): boolean {
  const reader = new XdrReader(payload);
  const complete = reader.int();
  reader.end("remote_auth_polkit_ret");
  return complete !== 0;
}

export function encodeLookupByNameArgs(name: string): Buffer {
  return new XdrWriter().string(name, STRING_MAX).toBuffer();
}

export function decodeDomainRet(payload: Buffer, what: string): DomainRef {
  const reader = new XdrReader(payload);
  const domain = readDomain(reader);
  reader.end(what);
  return domain;
}

export function encodeListAllDomainsArgs(flags: number): Buffer {
  return new XdrWriter().int(1 /* need_results */).uint(flags).toBuffer();
}

export function decodeListAllDomainsRet(payload: Buffer): DomainRef[] {
  const reader = new XdrReader(payload);
  const domains = reader.array(readDomain, DOMAIN_LIST_MAX);
  reader.uint(); // ret: the count again
  reader.end("remote_connect_list_all_domains_ret");
  return domains;
}

/** remote_domain_shutdown_flags_args and remote_domain_reboot_args share this layout. */
export function encodeDomainFlagsArgs(domain: DomainRef, flags: number): Buffer {
  const writer = new XdrWriter();
  writeDomain(writer, domain);
  return writer.uint(flags).toBuffer();
}

/** `domain` null: events of every domain. */
export function encodeEventCallbackRegisterAnyArgs(eventId: number, domain: DomainRef | null = null): Buffer {
  return new XdrWriter().int(eventId).optional(domain, writeDomain).toBuffer();
}

export function decodeEventCallbackRegisterAnyRet(payload: Buffer): number {
  const reader = new XdrReader(payload);
  const callbackId = reader.int();
  reader.end("remote_connect_domain_event_callback_register_any_ret");
  return callbackId;
}

export interface CallbackEvent {
  readonly callbackId: number;
  readonly event: DomainEvent;
}

/** remote_domain_event_callback_lifecycle_msg. */
export function decodeLifecycleMsg(payload: Buffer): CallbackEvent {
  const reader = new XdrReader(payload);
  const callbackId = reader.int();
  const domain = readDomain(reader);
  const event = reader.int();
  const detail = reader.int();
  reader.end("remote_domain_event_callback_lifecycle_msg");
  return {
    callbackId,
    event: { kind: "lifecycle", domain, event: LIFECYCLE_EVENTS[event] ?? "unknown", detail },
  };
}

/** remote_domain_event_callback_agent_lifecycle_msg. */
export function decodeAgentLifecycleMsg(payload: Buffer): CallbackEvent {
  const reader = new XdrReader(payload);
  const callbackId = reader.int();
  const domain = readDomain(reader);
  const state = reader.int();
  const reason = reader.int();
  reader.end("remote_domain_event_callback_agent_lifecycle_msg");
  return {
    callbackId,
    event: {
      kind: "agent",
      domain,
      state: state === AgentLifecycleState.CONNECTED ? "connected" : "disconnected",
      reason,
    },
  };
}

export function emptyArgs(): Buffer {
  return EMPTY;
}

// ---- qemu program ----

export function encodeAgentCommandArgs(
  domain: DomainRef,
  command: string,
  timeout: number,
  flags = 0,
): Buffer {
  const writer = new XdrWriter();
  writeDomain(writer, domain);
  return writer.string(command, STRING_MAX).int(timeout).uint(flags).toBuffer();
}

export function decodeAgentCommandRet(payload: Buffer): string | null {
  const reader = new XdrReader(payload);
  const result = reader.optional((r) => r.string(STRING_MAX));
  reader.end("qemu_domain_agent_command_ret");
  return result;
}

export function decodeXmlDescRet(payload: Buffer): string {
  const reader = new XdrReader(payload);
  const xml = reader.string(STRING_MAX);
  reader.end("remote_domain_get_xml_desc_ret");
  return xml;
}
