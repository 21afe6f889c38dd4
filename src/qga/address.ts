import net from "node:net";
import { AgentUnavailableError } from "./errors.js";

/** Where an agent listens: the host side of its virtio-serial channel (QEMU `-chardev socket`). */
export type AgentAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/** `tcp://host:port` (QEMU's chardev can listen on TCP), anything else is a unix socket path. */
export function parseAddress(text: string): AgentAddress {
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
  return address.kind === "unix" ? address.path : `tcp://${address.host}:${address.port}`;
}

/**
 * Opens a socket to the agent. A refused or missing socket fails at once with the OS reason; a peer that
 * never completes the connect fails after `timeoutMs`.
 */
export function connectSocket(address: AgentAddress, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      address.kind === "unix" ? net.connect({ path: address.path }) : net.connect(address.port, address.host);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AgentUnavailableError(`connecting to ${formatAddress(address)} took over ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new AgentUnavailableError(describeConnectError(address, err), { cause: err }));
    });
  });
}

function describeConnectError(address: AgentAddress, err: NodeJS.ErrnoException): string {
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
