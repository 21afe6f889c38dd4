import type { LibvirtSource } from "../../config/schema.js";
import type { DomainInventoryEntry } from "../../libvirt/inventory.js";
import { formatAddress } from "../../qga/address.js";
import { DEFAULT_CONNECTION, type SourceResult, uniqueGroups, type VmDescriptor } from "../vm.js";

/** Every domain libvirtd knows (running or not), asked at each rescan. */
export type ListLibvirtDomains = () => Promise<DomainInventoryEntry[]>;

/**
 * The libvirt domains that have a guest-agent channel, named after the domain. A defined domain that is
 * not running is served and reported offline (as a Proxmox VM that is off); a domain that is undefined
 * (or a transient one that stops) drops. When libvirtd cannot be asked, the domains served so far stay
 * (offline, through their links): a libvirtd restart must not clear every VM's topics.
 */
export async function libvirtVms(
  source: LibvirtSource,
  list: ListLibvirtDomains | undefined,
  previous: readonly VmDescriptor[],
): Promise<SourceResult> {
  if (!source.enabled) return { vms: [], problems: [], folders: [] };
  if (!list) {
    return {
      vms: [],
      problems: ["libvirt discovery is enabled but this process has no libvirt connection"],
      folders: [],
    };
  }
  let domains: DomainInventoryEntry[];
  try {
    domains = await list();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      vms: previous.filter((vm) => vm.kind === "libvirt"),
      problems: [`libvirt discovery is enabled but libvirtd at ${source.uri} cannot be asked (${reason})`],
      folders: [],
    };
  }
  const vms = domains
    .filter((domain) => domain.agentChannel)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map(
      (domain): VmDescriptor => ({
        name: domain.name,
        address: formatAddress({ kind: "libvirt", domain: domain.name }),
        groups: uniqueGroups(source.groups),
        // libvirtd holds the socket whatever we do; "hold" keeps our link (a domain lookup) between calls.
        connection: DEFAULT_CONNECTION,
        source: `libvirt domain ${domain.name} (${source.uri})`,
        kind: "libvirt",
      }),
    );
  return { vms, problems: [], folders: [] };
}
