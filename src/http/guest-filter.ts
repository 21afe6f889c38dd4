import type { MetricsConfig } from "../config/schema.js";
import type { FilesystemStatus, InterfaceStatus } from "../status/snapshot.js";

/** Names a VM's series may carry: included (all when no include), not excluded, at most `max`. */
class NameFilter {
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];

  constructor(
    filter: { include: readonly string[]; exclude: readonly string[] },
    private readonly max: number,
  ) {
    this.include = filter.include.map((p) => new RegExp(p));
    this.exclude = filter.exclude.map((p) => new RegExp(p));
  }

  matches(name: string): boolean {
    if (this.include.length > 0 && !this.include.some((r) => r.test(name))) return false;
    return !this.exclude.some((r) => r.test(name));
  }

  /** The first `max` items whose name passes, in the agent's order; duplicates after the first dropped. */
  pick<T>(items: readonly T[], nameOf: (item: T) => string, also: (item: T) => boolean = () => true): T[] {
    const seen = new Set<string>();
    const out: T[] = [];
    for (const item of items) {
      if (out.length >= this.max) break;
      const name = nameOf(item);
      if (seen.has(name) || !this.matches(name) || !also(item)) continue;
      seen.add(name);
      out.push(item);
    }
    return out;
  }
}

/**
 * What of a snapshot becomes series: the guest names its own mount points and interfaces, so their
 * number is bounded here (configuration `metrics`), not by the guest.
 */
export class GuestFilter {
  private readonly mountpoints: NameFilter;
  private readonly fsTypes: RegExp[];
  private readonly interfaces: NameFilter;

  constructor(config: MetricsConfig) {
    this.mountpoints = new NameFilter(config.mountpoints, config.mountpoints.max);
    this.fsTypes = config.fsTypes.exclude.map((p) => new RegExp(p));
    this.interfaces = new NameFilter(config.interfaces, config.interfaces.max);
  }

  filesystems(list: readonly FilesystemStatus[]): FilesystemStatus[] {
    return this.mountpoints.pick(
      list,
      (fs) => fs.mountpoint,
      (fs) => !this.fsTypes.some((r) => r.test(fs.type)),
    );
  }

  interfacesOf(list: readonly InterfaceStatus[]): InterfaceStatus[] {
    return this.interfaces.pick(list, (iface) => iface.name);
  }
}
