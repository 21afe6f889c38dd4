// Which unix socket a libvirt URI means, and what name to send libvirtd in CONNECT_OPEN. Only local unix
// transports: "qemu:///system", "qemu:///session", "qemu+unix:///system?socket=/path".
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface ResolvedUri {
  /** What CONNECT_OPEN carries: the URI without transport and client-side parameters (libvirt's rule). */
  readonly remoteName: string;
  /** Sockets to try in order: the monolithic libvirtd's, then the modular virtqemud's. */
  readonly socketPaths: readonly string[];
}

export class LibvirtUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LibvirtUriError";
  }
}

// Parameters only the client reads (src/remote/remote_driver.c strips them before CONNECT_OPEN).
const CLIENT_PARAMS = new Set([
  "socket",
  "mode",
  "proxy",
  "name",
  "command",
  "netcat",
  "keyfile",
  "sshauth",
  "no_verify",
  "no_tty",
  "pkipath",
  "known_hosts",
  "known_hosts_verify",
  "tls_priority",
  "tls",
]);

export interface UriEnvironment {
  readonly XDG_RUNTIME_DIR?: string | undefined;
  readonly HOME?: string | undefined;
}

export function resolveUri(uri: string, env: UriEnvironment = process.env): ResolvedUri {
  const match = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(uri);
  if (!match) throw new LibvirtUriError(`not a libvirt URI: ${JSON.stringify(uri)}`);
  const [, driver = "", transport, host = "", pathPart = "", query = ""] = match;
  if (transport !== undefined && transport.toLowerCase() !== "unix") {
    throw new LibvirtUriError(
      `transport "${transport}" in ${uri} is not supported: only local unix sockets are`,
    );
  }
  if (host !== "") {
    throw new LibvirtUriError(
      `${uri} names a host; only the local libvirtd (an empty host: ":///") is supported`,
    );
  }
  if (pathPart !== "/system" && pathPart !== "/session") {
    throw new LibvirtUriError(`${uri}: the path must be /system or /session`);
  }
  const params = new URLSearchParams(query);
  const kept = [...params].filter(([key]) => !CLIENT_PARAMS.has(key));
  const keptQuery = kept.length === 0 ? "" : `?${new URLSearchParams(kept).toString()}`;
  const remoteName = `${driver.toLowerCase()}://${pathPart}${keptQuery}`;

  const explicit = params.get("socket");
  if (explicit !== null) {
    if (!path.isAbsolute(explicit)) throw new LibvirtUriError(`${uri}: socket= must be an absolute path`);
    return { remoteName, socketPaths: [explicit] };
  }
  const daemon = `virt${driver.toLowerCase()}d-sock`;
  if (pathPart === "/system") {
    return { remoteName, socketPaths: ["/run/libvirt/libvirt-sock", `/run/libvirt/${daemon}`] };
  }
  const base = env.XDG_RUNTIME_DIR
    ? path.join(env.XDG_RUNTIME_DIR, "libvirt")
    : path.join(env.HOME ?? os.homedir(), ".cache", "libvirt");
  return { remoteName, socketPaths: [path.join(base, "libvirt-sock"), path.join(base, daemon)] };
}

/** Whether a socket the URI may mean exists: a cheap guess, before any connection, that libvirtd runs here. */
export function systemSocketExists(uri = "qemu:///system"): boolean {
  try {
    return resolveUri(uri).socketPaths.some((socketPath) => existsSync(socketPath));
  } catch {
    return false;
  }
}
