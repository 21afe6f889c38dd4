import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { ProxmoxSource } from "../../config/schema.js";
import { type SourceResult, uniqueGroups, type VmDescriptor } from "../vm.js";

/**
 * The Proxmox VMs of this node: every `<configDir>/<vmid>.conf` (by default /etc/pve/qemu-server, which
 * pmxcfs links to this node's folder, so a VM migrated away leaves it) whose main section turns the agent
 * on. The socket is `<socketDir>/<vmid>.qga`; it exists only while the VM runs, and is not required: a
 * stopped VM is served and reported offline. A conf that is deleted, or whose agent is turned off, drops
 * the VM. The connection defaults to linger 0 (config schema): Proxmox connects per command and its own
 * backups freeze filesystems through the agent, so the socket must not be held.
 */
export async function proxmoxVms(source: ProxmoxSource): Promise<SourceResult> {
  if (!source.enabled) return { vms: [], problems: [], folders: [] };
  let entries: string[];
  try {
    entries = await readdir(source.configDir);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return {
      vms: [],
      problems: [
        `proxmox discovery is enabled but ${source.configDir} cannot be read (${reason}); is this a Proxmox VE node?`,
      ],
      folders: [],
    };
  }
  const vmids = entries
    .map((entry) => /^(\d+)\.conf$/.exec(entry)?.[1])
    .filter((vmid): vmid is string => vmid !== undefined)
    .sort((a, b) => Number(a) - Number(b));
  const problems: string[] = [];
  const found = await Promise.all(vmids.map((vmid) => readVm(source, vmid, problems)));
  const vms = found.filter((vm): vm is VmDescriptor => vm !== undefined);
  return { vms, problems, folders: [source.configDir] };
}

async function readVm(
  source: ProxmoxSource,
  vmid: string,
  problems: string[],
): Promise<VmDescriptor | undefined> {
  const file = path.join(source.configDir, `${vmid}.conf`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Destroyed or migrated between the listing and the read: simply gone.
    if (code !== "ENOENT")
      problems.push(`proxmox VM ${vmid}: cannot read ${file} (${code ?? (error as Error).message})`);
    return undefined;
  }
  const conf = parseMainSection(text);
  if (!agentEnabled(conf.get("agent"))) return undefined;
  return {
    name: conf.get("name") || `vm${vmid}`,
    address: path.join(source.socketDir, `${vmid}.qga`),
    groups: uniqueGroups(source.groups),
    connection: source.connection,
    source: `proxmox VM ${vmid} (${file})`,
    kind: "proxmox",
  };
}

/**
 * The `key: value` lines of a qemu-server conf before its first `[section]` line: later sections are
 * snapshots (`[before-upgrade]`), pending changes (`[PENDING]`) or cloud-init state
 * (`[special:cloudinit]`), whose `name:` and `agent:` are not the VM's current ones. `#` lines are the
 * VM's description.
 */
export function parseMainSection(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("[")) break;
    if (line.startsWith("#")) continue;
    const match = /^([a-z][a-z0-9_-]*):\s*(.*?)\s*$/.exec(line);
    if (match) values.set(match[1]!, match[2]!);
  }
  return values;
}

/**
 * Proxmox's `agent` property string: `[enabled=]<bool>[,fstrim_cloned_disks=<bool>][,freeze-fs=<bool>]
 * [,type=virtio|isa]`. `enabled` is the default key, so a bare value (`agent: 1`,
 * `agent: 1,fstrim_cloned_disks=1`) is `enabled`; it defaults to off. Booleans are PVE's: 1/on/yes/true
 * and 0/off/no/false, in any case.
 */
export function agentEnabled(value: string | undefined): boolean {
  if (value === undefined) return false;
  let enabled = false;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? "enabled" : part.slice(0, eq).trim();
    const text = (eq < 0 ? part : part.slice(eq + 1)).trim();
    if (key === "enabled") enabled = /^(1|on|yes|true)$/i.test(text);
  }
  return enabled;
}
