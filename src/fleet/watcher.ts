import { type FSWatcher, watch } from "node:fs";
import type { Logger } from "pino";
import { type FleetSources, scan } from "./scan.js";
import { type FleetChange, sameVm, type VmDescriptor } from "./vm.js";

export type { FleetChange } from "./vm.js";

export interface FleetWatcherOptions {
  sources: FleetSources;
  /** The safety-net rescan period: fs.watch misses events on /etc/pve (FUSE) and in some containers. */
  rescanMs: number;
  log: Logger;
  /** Quiet time after a file-system event before rescanning: QEMU and pmxcfs write in bursts. */
  debounceMs?: number;
  /** Replaces scan() in tests. */
  scan?: typeof scan;
  /** Other signals of change (libvirt's domain events): each subscribes a callback, returns its unsubscribe. */
  triggers?: ReadonlyArray<(changed: () => void) => () => void>;
}

/**
 * The VMs this worker serves, kept up to date.
 *
 * Lifecycle, by source:
 * - static (`vms:`): served from the start for the life of the process, socket or not.
 * - glob: added when its socket appears; when the socket disappears the VM stays (the agent client
 *   reports it offline: a stopped VM must not vanish from MQTT) for the life of the process.
 * - proxmox: added when its .conf has the agent on; removed when the .conf goes (VM destroyed or migrated
 *   to another node) or the agent is turned off. A rename in the conf is `removed` (old name) + `added`
 *   (new name), never `changed`: the name is the VM's topics, so the old ones must be cleared.
 * Name collisions and invalid names: see scan.ts; each problem is logged at error once, when it appears.
 *
 * - libvirt: every domain with an agent channel, running or not, until it is undefined (see
 *   sources/libvirt.ts).
 * Rescans are triggered by fs.watch on the folders the sources read and by `triggers` (both debounced),
 * and every `rescanMs`;
 * two scans never overlap: a request during a scan runs one more scan after it.
 */
export class FleetWatcher {
  private vms: readonly VmDescriptor[] = [];
  private problems = new Set<string>();
  private readonly listeners = new Set<(change: FleetChange) => void>();
  private readonly watchers = new Map<string, FSWatcher>();
  private running: Promise<FleetChange> | undefined;
  private queued: Promise<FleetChange> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private untrigger: Array<() => void> = [];

  constructor(private readonly options: FleetWatcherOptions) {}

  /**
   * The first scan, then watching. The returned change has every VM found as `added`; it is not also sent
   * to the onChange listeners (a caller that subscribes first and applies the result must not add twice).
   */
  async start(): Promise<FleetChange> {
    const change = await this.rescan();
    this.started = true;
    if (this.stopped) return change;
    // Only `vms:` in the config: nothing can change until a restart, so nothing to rescan (with 1,000
    // VMs a rescan every 5 s was a twentieth of the worker's CPU while keeping status).
    if (hasDiscovery(this.options.sources)) {
      this.timer = setInterval(() => this.trigger("periodic"), this.options.rescanMs);
      // The worker lives for its MQTT connection; this timer alone must not keep a process alive.
      this.timer.unref();
    }
    this.untrigger = (this.options.triggers ?? []).map((subscribe) => subscribe(() => this.schedule()));
    return change;
  }

  /** Called after each rescan (after start's) that changed something; returns the unsubscribe function. */
  onChange(listener: (change: FleetChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  current(): readonly VmDescriptor[] {
    return this.vms;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const stop of this.untrigger.splice(0)) stop();
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Scans now, or right after the scan in progress (which may have read the folders too early). */
  rescan(): Promise<FleetChange> {
    if (!this.running) {
      this.running = this.scanOnce().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.rescan();
      });
    return this.queued;
  }

  private trigger(why: string): void {
    if (this.stopped) return;
    this.rescan().catch((error: unknown) =>
      this.options.log.error({ err: error, why }, "fleet rescan failed"),
    );
  }

  private async scanOnce(): Promise<FleetChange> {
    const before = this.vms;
    const result = await (this.options.scan ?? scan)(this.options.sources, before);
    if (this.stopped) return { added: [], removed: [], changed: [] };
    this.vms = result.vms;
    this.logProblems(result.problems);
    // A file created in a new folder between this scan's listing and the new watch would go unseen until
    // the periodic rescan: one more scan, now that the folder is watched, closes that gap.
    if (this.watchFolders(result.folders)) this.schedule();
    const change = diff(before, result.vms);
    if (change.added.length + change.removed.length + change.changed.length > 0) {
      this.options.log.info(
        {
          added: change.added.map((vm) => vm.name),
          removed: change.removed.map((vm) => vm.name),
          changed: change.changed.map((vm) => vm.name),
        },
        "fleet changed",
      );
      for (const listener of this.started ? this.listeners : []) {
        try {
          listener(change);
        } catch (error) {
          this.options.log.error({ err: error }, "a fleet change listener failed");
        }
      }
    }
    return change;
  }

  // Every rescan finds the same standing problems: log each when it appears, not every few seconds.
  private logProblems(problems: readonly string[]): void {
    for (const problem of problems) {
      if (!this.problems.has(problem)) this.options.log.error(problem);
    }
    this.problems = new Set(problems);
  }

  /**
   * Watches exactly the folders of the last scan: new VM folders get watched, vanished ones dropped.
   * True when a folder is newly watched.
   */
  private watchFolders(folders: readonly string[]): boolean {
    let added = false;
    const wanted = new Set(folders);
    for (const [folder, watcher] of this.watchers) {
      if (!wanted.has(folder)) {
        watcher.close();
        this.watchers.delete(folder);
      }
    }
    for (const folder of wanted) {
      if (this.watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, { persistent: false }, () => this.schedule());
        // A watched folder that is deleted (VM folder removed) errors on some systems: forget it; the
        // next scan watches it again if it comes back.
        watcher.on("error", () => {
          watcher.close();
          if (this.watchers.get(folder) === watcher) this.watchers.delete(folder);
        });
        this.watchers.set(folder, watcher);
        added = true;
      } catch {
        // Missing or unwatchable (not made yet, FUSE without inotify): the periodic rescan covers it.
      }
    }
    return added;
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.trigger("a watched change"), this.options.debounceMs ?? 100);
    this.debounce.unref();
  }
}

/** The change from `before` to `after`, by name. */
export function diff(before: readonly VmDescriptor[], after: readonly VmDescriptor[]): FleetChange {
  const old = new Map(before.map((vm) => [vm.name, vm]));
  const now = new Map(after.map((vm) => [vm.name, vm]));
  return {
    added: after.filter((vm) => !old.has(vm.name)),
    removed: before.filter((vm) => !now.has(vm.name)),
    changed: after.filter((vm) => {
      const was = old.get(vm.name);
      return was !== undefined && !sameVm(was, vm);
    }),
  };
}

/** Whether any source finds VMs at run time (globs, Proxmox, libvirt), rather than the config's list. */
function hasDiscovery(sources: FleetSources): boolean {
  return sources.globs.length > 0 || sources.proxmox.enabled || sources.libvirt?.config.enabled === true;
}
