import type { Config } from "./config/schema.js";
import type { FleetSources } from "./fleet/scan.js";
import { resolveUri } from "./libvirt/uri.js";
import { redactUrl } from "./net/redact-url.js";

/**
 * What `run` would do with a configuration, in words, for check-config: where it looks for VMs and which
 * broker it uses. With no source configured, run chooses the defaults by what the host has (sourcesOf in
 * fleet/configured-sources.ts): this says so, and why Proxmox or libvirt is off, so that "VMs (0)" is not the whole story.
 */
export function describeSources(sources: FleetSources, configured: boolean, rescanSeconds: number): string[] {
  const lines: string[] = [];
  lines.push(
    configured ? "sources:" : "sources (no source configured: the defaults, as this host has them):",
  );
  const vms = sources.vms.map((vm) => `${vm.name} (${vm.socket})`);
  lines.push(`  static VMs: ${vms.length > 0 ? vms.join(", ") : "none"}`);
  if (sources.globs.length === 0) lines.push("  globs: none");
  for (const glob of sources.globs) {
    const groups = glob.groups.length > 0 ? ` (groups: ${glob.groups.join(",")})` : "";
    lines.push(`  glob ${glob.pattern}${groups}`);
  }
  const { proxmox } = sources;
  if (proxmox.enabled) {
    lines.push(`  Proxmox: VMs of ${proxmox.configDir}/*.conf, agents at ${proxmox.socketDir}/*.qga`);
  } else {
    lines.push(`  Proxmox: off${configured ? "" : ` (no ${proxmox.configDir})`}`);
  }
  const libvirt = sources.libvirt?.config;
  if (libvirt?.enabled) lines.push(`  libvirt: the domains of ${libvirt.uri}, through libvirtd`);
  else if (configured || !libvirt) lines.push("  libvirt: off");
  else lines.push(`  libvirt: off (no libvirtd socket at ${libvirtSockets(libvirt.uri)})`);
  if (sources.globs.length > 0 || proxmox.enabled || libvirt?.enabled) {
    lines.push(`  rescan every ${rescanSeconds} s, and at once when a watched folder changes`);
  } else {
    lines.push("  no rescan: static VMs only (their sockets may appear later)");
  }
  return lines;
}

/** The broker run would use: the configured URL (its password hidden), else the local-or-embedded rule. */
export function describeBroker(config: Config): string {
  if (config.mqtt.url !== undefined) return redactUrl(config.mqtt.url);
  return "127.0.0.1:1883 if a broker answers there, else an embedded one (mqtt.url is unset)";
}

function libvirtSockets(uri: string): string {
  try {
    return resolveUri(uri).socketPaths.join(" or ");
  } catch {
    return uri;
  }
}
