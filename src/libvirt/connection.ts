// A connection to the local libvirtd (or virtqemud) speaking its RPC protocol directly: what virsh does
// through libvirt.so, without a native addon.
import type net from "node:net";
import {
  AuthType,
  CONNECT_LIST_DOMAINS_ACTIVE,
  DOMAIN_REBOOT_GUEST_AGENT,
  DOMAIN_SHUTDOWN_GUEST_AGENT,
  DomainEventId,
  MessageType,
  QEMU_PROGRAM,
  QEMU_PROTOCOL_VERSION,
  QemuProcedure,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  RemoteProcedure,
} from "./constants.js";
import type { DomainRef } from "./domain.js";
import { ErrorDomain, ErrorNumber, LibvirtError, rpcError } from "./errors.js";
import type { DomainEvent } from "./events.js";
import type { Message } from "./packet.js";
import {
  type CallbackEvent,
  decodeAgentCommandRet,
  decodeAgentLifecycleMsg,
  decodeAuthListRet,
  decodeAuthPolkitRet,
  decodeDomainRet,
  decodeEventCallbackRegisterAnyRet,
  decodeLifecycleMsg,
  decodeListAllDomainsRet,
  decodeXmlDescRet,
  emptyArgs,
  encodeAgentCommandArgs,
  encodeConnectOpenArgs,
  encodeDomainFlagsArgs,
  encodeEventCallbackRegisterAnyArgs,
  encodeListAllDomainsArgs,
  encodeLookupByNameArgs,
} from "./procedures.js";
import { connectUnixSocket, RpcClient, type RpcLog } from "./rpc-client.js";
import { resolveUri } from "./uri.js";

export interface LibvirtConnectionOptions {
  /** Default "qemu:///system"; also "qemu:///session", "qemu+unix:///system?socket=/path". */
  uri?: string;
  /** Connecting the socket and the handshake (auth, open, event registration). Default 3000. */
  connectTimeoutMs?: number;
  /** For every RPC but agentCommand, whose limit follows its own timeout. Default 30000. */
  callTimeoutMs?: number;
  /**
   * Whether libvirtd sends this connection every domain's lifecycle and agent events (default true). A
   * connection that only carries one domain's commands says false: one connection listening is enough.
   */
  events?: boolean;
  log?: RpcLog;
}

const DEFAULT_URI = "qemu:///system";
const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
const DEFAULT_CALL_TIMEOUT_MS = 30_000;
// libvirtd answers an agent command at most `timeout` seconds after it starts it; it may first wait for the
// domain's job lock behind other agent commands, so the RPC gets this much more before we give up on it.
const AGENT_RPC_GRACE_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2000;

type ProcedureName = keyof typeof RemoteProcedure;

function describeSocketError(err: unknown, socketPath: string): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return `no socket at ${socketPath}`;
  if (code === "ECONNREFUSED") return `nothing listens on ${socketPath} (a stale socket)`;
  if (code === "EACCES" || code === "EPERM") {
    return `permission denied on ${socketPath}: run as root or as a member of the group libvirtd gives the socket (often "libvirt")`;
  }
  return undefined;
}

async function connectFirst(socketPaths: readonly string[], timeoutMs: number): Promise<net.Socket> {
  const problems: string[] = [];
  for (const socketPath of socketPaths) {
    try {
      return await connectUnixSocket(socketPath, timeoutMs);
    } catch (err) {
      if (err instanceof LibvirtError) throw err;
      const described = describeSocketError(err, socketPath);
      if (!described) {
        throw rpcError(
          `cannot connect to libvirtd at ${socketPath}: ${(err as Error).message}`,
          undefined,
          err,
        );
      }
      // Permission problems are not helped by trying the next socket, and must not be hidden by its ENOENT.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") {
        throw new LibvirtError(
          `cannot connect to libvirtd: ${described}`,
          { code: ErrorNumber.AUTH_FAILED, domain: ErrorDomain.RPC },
          { cause: err },
        );
      }
      problems.push(described);
    }
  }
  throw new LibvirtError(`libvirtd is not running? ${problems.join("; ")}`, {
    code: ErrorNumber.NO_CONNECT,
    domain: ErrorDomain.RPC,
  });
}

export class LibvirtConnection {
  readonly uri: string;
  private readonly eventListeners = new Set<(event: DomainEvent) => void>();
  private readonly closeListeners = new Set<(error: Error) => void>();
  private readonly callbackKinds = new Map<number, "lifecycle" | "agent">();
  private rpc!: RpcClient;
  private closed = false;

  private constructor(
    uri: string,
    private readonly callTimeoutMs: number,
    private readonly log: RpcLog | undefined,
  ) {
    this.uri = uri;
  }

  static async open(options: LibvirtConnectionOptions = {}): Promise<LibvirtConnection> {
    const uri = options.uri ?? DEFAULT_URI;
    const resolved = resolveUri(uri);
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const connection = new LibvirtConnection(
      uri,
      options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      options.log,
    );
    const socket = await connectFirst(resolved.socketPaths, connectTimeoutMs);
    connection.rpc = new RpcClient(socket, {
      onEvent: (message) => connection.onEvent(message),
      onClose: (error) => connection.onRpcClose(error),
      log: options.log,
    });
    try {
      await connection.handshake(resolved.remoteName, connectTimeoutMs, options.events ?? true);
    } catch (err) {
      await connection.rpc.end();
      throw err;
    }
    return connection;
  }

  private async handshake(remoteName: string, timeoutMs: number, events: boolean): Promise<void> {
    const types = decodeAuthListRet(await this.remote("AUTH_LIST", emptyArgs(), timeoutMs));
    if (types.length > 0 && !types.includes(AuthType.NONE)) {
      if (types.includes(AuthType.POLKIT)) {
        const complete = decodeAuthPolkitRet(await this.remote("AUTH_POLKIT", emptyArgs(), timeoutMs));
        if (!complete) {
          throw new LibvirtError("libvirtd's polkit authentication did not complete", {
            code: ErrorNumber.AUTH_FAILED,
            domain: ErrorDomain.RPC,
          });
        }
      } else {
        throw new LibvirtError(
          `libvirtd wants SASL authentication on this socket (auth types ${types.join(",")}), which this client ` +
            `does not do: set auth_unix_rw = "none" or "polkit" in libvirtd.conf, or connect as root`,
          { code: ErrorNumber.AUTH_UNAVAILABLE, domain: ErrorDomain.RPC },
        );
      }
    }
    await this.remote("CONNECT_OPEN", encodeConnectOpenArgs(remoteName), timeoutMs);
    if (!events) return;
    // Without the agent event the adapter would have to poll to learn that an agent came or went.
    for (const [eventId, kind] of [
      [DomainEventId.LIFECYCLE, "lifecycle"],
      [DomainEventId.AGENT_LIFECYCLE, "agent"],
    ] as const) {
      const payload = await this.remote(
        "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
        encodeEventCallbackRegisterAnyArgs(eventId),
        timeoutMs,
      );
      this.callbackKinds.set(decodeEventCallbackRegisterAnyRet(payload), kind);
    }
  }

  get isOpen(): boolean {
    return !this.closed && this.rpc.isOpen;
  }

  /** Running domains. */
  async listDomains(): Promise<DomainRef[]> {
    const payload = await this.remote(
      "CONNECT_LIST_ALL_DOMAINS",
      encodeListAllDomainsArgs(CONNECT_LIST_DOMAINS_ACTIVE),
    );
    return decodeListAllDomainsRet(payload);
  }

  /** Every domain libvirtd knows, running or not (`id` is -1 when not running). */
  async listAllDomains(): Promise<DomainRef[]> {
    const payload = await this.remote("CONNECT_LIST_ALL_DOMAINS", encodeListAllDomainsArgs(0));
    return decodeListAllDomainsRet(payload);
  }

  /** The domain's XML (flags 0: the live definition of a running domain). */
  async domainXml(domain: DomainRef): Promise<string> {
    return decodeXmlDescRet(await this.remote("DOMAIN_GET_XML_DESC", encodeDomainFlagsArgs(domain, 0)));
  }

  /** Fails with code NO_DOMAIN when there is none of that name. */
  async lookupDomain(name: string): Promise<DomainRef> {
    const payload = await this.remote("DOMAIN_LOOKUP_BY_NAME", encodeLookupByNameArgs(name));
    return decodeDomainRet(payload, "remote_domain_lookup_by_name_ret");
  }

  /**
   * Sends a guest-agent command (a JSON text) through libvirtd, which owns the agent's socket; returns
   * libvirtd's reply text, e.g. '{"return":{}}'. An agent error comes back as a LibvirtError whose message
   * holds the agent's description. `timeoutSeconds`: libvirt's own (-2 block, -1 default, 0 no wait).
   */
  async agentCommand(domain: DomainRef, command: string, timeoutSeconds: number): Promise<string> {
    const rpcTimeoutMs = timeoutSeconds > 0 ? timeoutSeconds * 1000 + AGENT_RPC_GRACE_MS : this.callTimeoutMs;
    const payload = await this.rpc.call({
      program: QEMU_PROGRAM,
      version: QEMU_PROTOCOL_VERSION,
      procedure: QemuProcedure.DOMAIN_AGENT_COMMAND,
      payload: encodeAgentCommandArgs(domain, command, Math.trunc(timeoutSeconds)),
      timeoutMs: rpcTimeoutMs,
      what: `agent command on ${domain.name}`,
    });
    return decodeAgentCommandRet(payload) ?? "";
  }

  async shutdownWithAgent(domain: DomainRef): Promise<void> {
    await this.remote("DOMAIN_SHUTDOWN_FLAGS", encodeDomainFlagsArgs(domain, DOMAIN_SHUTDOWN_GUEST_AGENT));
  }

  async rebootWithAgent(domain: DomainRef): Promise<void> {
    await this.remote("DOMAIN_REBOOT", encodeDomainFlagsArgs(domain, DOMAIN_REBOOT_GUEST_AGENT));
  }

  onDomainEvent(listener: (event: DomainEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Runs once when the connection drops by itself (libvirtd stopped, socket error); not after close(). */
  onClose(listener: (error: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** CONNECT_CLOSE (libvirtd drops our event callbacks with it), then ends the socket. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.rpc.isOpen) {
      try {
        await this.remote("CONNECT_CLOSE", emptyArgs(), CLOSE_TIMEOUT_MS);
      } catch (err) {
        this.log?.debug({ err }, "libvirt: CONNECT_CLOSE failed; ending the socket anyway");
      }
    }
    await this.rpc.end();
  }

  private remote(procedure: ProcedureName, payload: Buffer, timeoutMs = this.callTimeoutMs): Promise<Buffer> {
    return this.rpc.call({
      program: REMOTE_PROGRAM,
      version: REMOTE_PROTOCOL_VERSION,
      procedure: RemoteProcedure[procedure],
      payload,
      timeoutMs,
      what: procedure,
    });
  }

  private onEvent(message: Message): void {
    const { header, payload } = message;
    if (header.type !== MessageType.MESSAGE || header.program !== REMOTE_PROGRAM) return;
    let decoded: CallbackEvent;
    try {
      if (header.procedure === RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
        decoded = decodeLifecycleMsg(payload);
      } else if (header.procedure === RemoteProcedure.DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE) {
        decoded = decodeAgentLifecycleMsg(payload);
      } else {
        this.log?.debug({ procedure: header.procedure }, "libvirt: event of a kind not registered for");
        return;
      }
    } catch (err) {
      this.log?.warn({ err, procedure: header.procedure }, "libvirt: undecodable event dropped");
      return;
    }
    if (this.callbackKinds.get(decoded.callbackId) !== decoded.event.kind) {
      this.log?.debug({ callbackId: decoded.callbackId }, "libvirt: event for an unknown callback");
      return;
    }
    for (const listener of [...this.eventListeners]) {
      try {
        listener(decoded.event);
      } catch (err) {
        this.log?.warn({ err }, "libvirt: a domain event listener threw");
      }
    }
  }

  private onRpcClose(error: LibvirtError): void {
    if (this.closed) return;
    this.closed = true;
    this.log?.warn({ err: error }, "libvirt: connection lost");
    for (const listener of [...this.closeListeners]) {
      try {
        listener(error);
      } catch (err) {
        this.log?.warn({ err }, "libvirt: a close listener threw");
      }
    }
  }
}
