import { type Connection, VmName } from "../config/schema.js";

/** Where a VM was found: decides its lifecycle (see watcher.ts). */
export type VmKind = "static" | "glob" | "proxmox" | "libvirt";

/** One VM this worker serves: everything the agent client and the MQTT side need to know about it. */
export interface VmDescriptor {
  /** A single MQTT topic level, never `bridge` or `group` (checked with `VmName` before it gets here). */
  readonly name: string;
  /** The agent socket path, tcp://host:port for a static entry, or libvirt:<domain>. */
  readonly address: string;
  readonly groups: readonly string[];
  readonly connection: Connection;
  /**
   * Where it came from, in words, for error messages: `vms[2] in the config`,
   * `glob /run/qemu/*\/qga.sock (/run/qemu/web1/qga.sock)`, `proxmox VM 101 (/etc/pve/qemu-server/101.conf)`.
   */
  readonly source: string;
  readonly kind: VmKind;
}

/** What a rescan changed, by VM name (a VM's name is its MQTT identity). Defined here, beside the
 * descriptor, so consumers need not import the watcher; watcher.ts re-exports it. */
export interface FleetChange {
  readonly added: VmDescriptor[];
  readonly removed: VmDescriptor[];
  /** Same name, other address, groups or connection: the new descriptors. */
  readonly changed: VmDescriptor[];
}

/** What one discovery source found. */
export interface SourceResult {
  vms: VmDescriptor[];
  /** Things a person must fix, in words; they never stop the other VMs from being served. */
  problems: string[];
  /** Folders whose changes can change the result: the watcher watches them to rescan quickly. */
  folders: string[];
}

/**
 * Static and glob sockets are plain QEMU chardevs nobody else uses, so the client keeps them open unless
 * the config says otherwise (the Proxmox source has its own default, linger 0, in the config schema).
 */
export const DEFAULT_CONNECTION: Connection = "hold";

/** Why `name` cannot name a VM, in words, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  const parsed = VmName.safeParse(name);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((issue) => issue.message).join("; ");
}

/** Groups without repeats, in their first order: a group listed twice is still one subscription. */
export function uniqueGroups(groups: readonly string[]): string[] {
  return [...new Set(groups)];
}

/** The same VM as far as the agent client and MQTT care: address, groups (as a set) and connection. */
export function sameVm(a: VmDescriptor, b: VmDescriptor): boolean {
  if (a.name !== b.name || a.address !== b.address) return false;
  if (!sameConnection(a.connection, b.connection)) return false;
  const groups = new Set(a.groups);
  return a.groups.length === b.groups.length && b.groups.every((g) => groups.has(g));
}

function sameConnection(a: Connection, b: Connection): boolean {
  if (a === "hold" || b === "hold") return a === b;
  return a.linger === b.linger;
}
