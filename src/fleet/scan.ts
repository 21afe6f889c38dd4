import type { GlobSource, LibvirtSource, ProxmoxSource, StaticVm } from "../config/schema.js";
import { globVms } from "./sources/glob.js";
import { type ListLibvirtDomains, libvirtVms } from "./sources/libvirt.js";
import { proxmoxVms } from "./sources/proxmox.js";
import { staticVms } from "./sources/static.js";
import { nameProblem, type SourceResult, type VmDescriptor } from "./vm.js";

/** Where VMs come from: the config's `vms`, `discovery.globs`, `discovery.proxmox` and `discovery.libvirt`. */
export interface FleetSources {
  readonly vms: readonly StaticVm[];
  readonly globs: readonly GlobSource[];
  readonly proxmox: ProxmoxSource;
  readonly libvirt?: { readonly config: LibvirtSource; readonly list?: ListLibvirtDomains };
}

/**
 * Every VM the sources yield now, merged under the rule that a name is one VM across the whole fleet.
 *
 * - A name that is not a single valid topic level, or is `bridge`/`group` (a folder named `web+1`, a
 *   Proxmox VM named `bridge`), is refused with a problem naming its source.
 * - Two VMs with one name (from any two sources) are a problem naming both; the first keeps the name and
 *   the other is not served. "First" is: a VM already served (`previous`) before a newcomer, so a VM that
 *   appears later never takes the topics of one that is running; then the config order: static `vms`,
 *   globs in their order (matches sorted by path), Proxmox VMs by vmid, libvirt domains by name.
 * - `previous` is what the caller serves now (empty for the first scan). A glob VM of `previous` whose
 *   socket has gone is kept, so a stopped VM stays on MQTT (offline) instead of vanishing; it yields its
 *   name, without a problem, when another source now has a VM of that name (the VM moved).
 */
export async function scan(
  sources: FleetSources,
  previous: readonly VmDescriptor[] = [],
): Promise<SourceResult> {
  const results = await Promise.all([
    staticVms(sources.vms),
    globVms(sources.globs),
    proxmoxVms(sources.proxmox),
    sources.libvirt
      ? libvirtVms(sources.libvirt.config, sources.libvirt.list, previous)
      : { vms: [], problems: [], folders: [] },
  ]);
  const merged = merge(
    results.flatMap((r) => r.vms),
    previous,
  );
  return {
    vms: merged.vms,
    problems: [...results.flatMap((r) => r.problems), ...merged.problems],
    folders: [...new Set(results.flatMap((r) => r.folders))],
  };
}

/** The merge rule of scan(), on descriptors already found (exported for tests and other sources). */
export function merge(
  found: readonly VmDescriptor[],
  previous: readonly VmDescriptor[],
): { vms: VmDescriptor[]; problems: string[] } {
  const foundKeys = new Set(found.map(identity));
  const served = new Set(previous.map(identity));
  const incumbents = found.filter((vm) => served.has(identity(vm)));
  const newcomers = found.filter((vm) => !served.has(identity(vm)));
  const placeholders = previous.filter((vm) => vm.kind === "glob" && !foundKeys.has(identity(vm)));

  const winners = new Map<string, VmDescriptor>();
  const problems: string[] = [];
  for (const vm of [...incumbents, ...newcomers]) {
    const invalid = nameProblem(vm.name);
    if (invalid !== undefined) {
      problems.push(
        `${vm.source} gives the VM name ${JSON.stringify(vm.name)}, which cannot name a VM (${invalid}); it is not served`,
      );
      continue;
    }
    const holder = winners.get(vm.name);
    if (holder) {
      problems.push(
        `${vm.source} and ${holder.source} both name a VM ${JSON.stringify(vm.name)}, and VM names must be unique: ` +
          `${holder.source} keeps the name and ${vm.source} is not served; rename one of them`,
      );
      continue;
    }
    winners.set(vm.name, vm);
  }
  for (const vm of placeholders) {
    if (!winners.has(vm.name)) winners.set(vm.name, vm);
  }
  // Emit in source order (not priority order) so current() reads like the config.
  const order = [...found, ...placeholders];
  const vms = order.filter((vm) => winners.get(vm.name) === vm);
  return { vms, problems };
}

// The same VM across scans: one source yielding one name (a glob's source text includes the socket path).
function identity(vm: VmDescriptor): string {
  return `${vm.source}\u0000${vm.name}`;
}
