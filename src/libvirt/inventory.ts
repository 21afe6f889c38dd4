import { ErrorNumber, LibvirtError } from "./errors.js";
import type { SharedLibvirtConnection } from "./shared-connection.js";

/** One domain as discovery needs it. */
export interface DomainInventoryEntry {
  readonly name: string;
  /** The XML has the guest agent's virtio channel. */
  readonly agentChannel: boolean;
}

// libvirt names the agent's channel by its target name; the source path is libvirt's to choose.
const AGENT_CHANNEL = /<target\s[^>]*name=['"]org\.qemu\.guest_agent\.0['"]/;

/** Every domain libvirtd knows, with whether it has an agent channel: one XML read per domain. */
export async function listLibvirtDomains(libvirt: SharedLibvirtConnection): Promise<DomainInventoryEntry[]> {
  const connection = await libvirt.get();
  const domains = await connection.listAllDomains();
  const entries = await Promise.all(
    domains.map(async (domain): Promise<DomainInventoryEntry | undefined> => {
      let xml: string;
      try {
        xml = await connection.domainXml(domain);
      } catch (error) {
        // Undefined between the listing and this read: simply gone.
        if (error instanceof LibvirtError && error.code === ErrorNumber.NO_DOMAIN) return undefined;
        throw error;
      }
      return { name: domain.name, agentChannel: AGENT_CHANNEL.test(xml) };
    }),
  );
  return entries.filter((entry): entry is DomainInventoryEntry => entry !== undefined);
}
