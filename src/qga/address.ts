import type net from "node:net";
import { connectWithin } from "../net/connect.js";
import { AgentUnavailableError } from "./errors.js";

/**
 * Where an agent listens: the host side of its virtio-serial channel (QEMU `-chardev socket`), or a libvirt
 * domain, whose agent socket libvirtd holds (reached through libvirt's API, see libvirt-link.ts).
 */
export type AgentAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "libvirt"; readonly domain: string };

const LIBVIRT_PREFIX = "libvirt:";

/**
 * `tcp://host:port` (QEMU's chardev can listen on TCP), `libvirt:<domain name>`, anything else is a unix
 * socket path.
 */
export function parseAddress(text: string): AgentAddress {
  if (text.startsWith(LIBVIRT_PREFIX)) {
    const domain = text.slice(LIBVIRT_PREFIX.length);
    if (domain.length === 0) throw new TypeError(`"${text}" names no libvirt domain (libvirt:<domain name>)`);
    return { kind: "libvirt", domain };
  }
  if (!text.startsWith("tcp://")) {
    if (text.length === 0) throw new TypeError("an agent address must not be empty");
    return { kind: "unix", path: text };
  }
  const url = new URL(text);
  const port = Number(url.port);
  if (!url.hostname || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`"${text}" is not a tcp://host:port address`);
  }
  // URL keeps the brackets of an IPv6 literal; net.connect wants it bare.
  return { kind: "tcp", host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

export function formatAddress(address: AgentAddress): string {
  switch (address.kind) {
    case "unix":
      return address.path;
    case "tcp":
      return `tcp://${address.host}:${address.port}`;
    case "libvirt":
      return `${LIBVIRT_PREFIX}${address.domain}`;
  }
}

/** An address reached over a socket of our own (not through libvirt). */
export type SocketAddress = Exclude<AgentAddress, { kind: "libvirt" }>;

/**
 * Opens a socket to the agent. A refused or missing socket fails at once with the OS reason; a peer that
 * never completes the connect fails after `timeoutMs`.
 */
export async function connectSocket(address: SocketAddress, timeoutMs: number): Promise<net.Socket> {
  const options =
    address.kind === "unix" ? { path: address.path } : { port: address.port, host: address.host };
  try {
    return await connectWithin(
      options,
      timeoutMs,
      () => new AgentUnavailableError(`connecting to ${formatAddress(address)} took over ${timeoutMs} ms`),
    );
  } catch (error) {
    if (error instanceof AgentUnavailableError) throw error;
    const err = error as NodeJS.ErrnoException;
    throw new AgentUnavailableError(describeConnectError(address, err), { cause: err });
  }
}

function describeConnectError(address: SocketAddress, err: NodeJS.ErrnoException): string {
  const where = formatAddress(address);
  switch (err.code) {
    case "ENOENT":
      return `no agent socket at ${where} (is the VM running?)`;
    case "ECONNREFUSED":
      return `nothing listens at ${where} (the VM may have stopped)`;
    case "EACCES":
      return `permission denied on ${where} (the worker's user needs access to the socket)`;
    default:
      return `cannot connect to ${where}: ${err.message}`;
  }
}
