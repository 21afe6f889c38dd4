import { existsSync } from "node:fs";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { LibvirtConnection } from "../libvirt/connection.js";
import type { DomainEvent } from "../libvirt/events.js";
import { listLibvirtDomains } from "../libvirt/inventory.js";
import { SharedLibvirtConnection } from "../libvirt/shared-connection.js";
import { systemSocketExists } from "../libvirt/uri.js";
import { parseAddress } from "../qga/address.js";
import { libvirtLinkOpener } from "../qga/libvirt-link.js";
import type { FleetSources } from "./scan.js";
import type { VmDescriptor } from "./vm.js";

/** Where the worker looks for VMs when the configuration names no source at all. */
export const DEFAULT_GLOB = "/run/qemu/*/qga.sock";

/**
 * The configured sources; with none at all, the Proxmox preset where Proxmox is, libvirt where libvirtd's
 * socket is, and the default glob.
 */
export function sourcesOf(config: Config, log?: Logger): FleetSources {
  const { discovery } = config;
  if (sourcesConfigured(config)) {
    return {
      vms: config.vms,
      globs: discovery.globs,
      proxmox: discovery.proxmox,
      libvirt: { config: discovery.libvirt },
    };
  }
  const proxmox = existsSync(discovery.proxmox.configDir);
  const libvirt = systemSocketExists(discovery.libvirt.uri);
  log?.info({ proxmox, libvirt, glob: DEFAULT_GLOB }, "no VM source configured: using the defaults");
  return {
    vms: [],
    globs: [{ pattern: DEFAULT_GLOB, groups: [] }],
    proxmox: { ...discovery.proxmox, enabled: proxmox },
    libvirt: { config: { ...discovery.libvirt, enabled: libvirt } },
  };
}

/** Whether the configuration names any VM source; if not, run uses the defaults (see sourcesOf). */
export function sourcesConfigured(config: Config): boolean {
  const { discovery } = config;
  return (
    config.vms.length > 0 ||
    discovery.globs.length > 0 ||
    discovery.proxmox.enabled ||
    discovery.libvirt.enabled
  );
}

/**
 * The sources with what they need to run: a libvirt connection (shared with the agents' links) when libvirt
 * discovery is on or a static VM is a `libvirt:<domain>`. The caller closes it.
 */
export function resolveSources(
  config: Config,
  log?: Logger,
): { sources: FleetSources; libvirt: SharedLibvirtConnection | undefined } {
  const sources = sourcesOf(config, log);
  if (!usesLibvirt(config, sources)) return { sources, libvirt: undefined };
  const libvirt = new SharedLibvirtConnection({
    uri: config.discovery.libvirt.uri,
    ...(log ? { log: log.child({ component: "libvirt" }) } : {}),
  });
  if (!sources.libvirt) return { sources, libvirt };
  const listing = { config: sources.libvirt.config, list: () => listLibvirtDomains(libvirt) };
  return { sources: { ...sources, libvirt: listing }, libvirt };
}

/** libvirt is needed for its discovery and for static VMs at `libvirt:<domain>`. */
function usesLibvirt(config: Config, sources: FleetSources): boolean {
  return (
    sources.libvirt?.config.enabled === true ||
    config.vms.some((vm) => parseAddress(vm.socket).kind === "libvirt")
  );
}

/** A libvirt domain's link: lookups and events over the shared connection, commands over one of its own. */
export function libvirtLinkFor(vm: VmDescriptor, libvirt: SharedLibvirtConnection, log: Logger) {
  const address = parseAddress(vm.address);
  if (address.kind !== "libvirt") return undefined;
  return libvirtLinkOpener(address.domain, {
    shared: () => libvirt.get(),
    events: (listener) => libvirt.onDomainEvent(listener),
    connect: (connectTimeoutMs) =>
      LibvirtConnection.open({ uri: libvirt.uri, log, connectTimeoutMs, events: false }),
  });
}

/** Where the sources in use look for VMs, in words. */
export function watchedPaths(sources: FleetSources): string[] {
  return [
    ...sources.vms.map((vm) => vm.socket),
    ...sources.globs.map((glob) => glob.pattern),
    ...(sources.proxmox.enabled ? [`${sources.proxmox.socketDir}/*.qga`] : []),
    ...(sources.libvirt?.config.enabled ? [`libvirt domains at ${sources.libvirt.config.uri}`] : []),
  ];
}

/** The libvirt events that can change which domains are served (a transient domain starts undefined). */
export function changesFleet(event: DomainEvent): boolean {
  return (
    event.kind === "lifecycle" &&
    (event.event === "defined" ||
      event.event === "undefined" ||
      event.event === "started" ||
      event.event === "stopped")
  );
}
