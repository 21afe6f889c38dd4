import type { StatusSnapshot } from "./snapshot.js";

/**
 * Where a VM's collected snapshots go besides its status topic (GuestMetrics fits): every snapshot the
 * poller collects, with how long it took, and word when the VM's series are to go. Declared with the
 * snapshot it carries, so that whoever feeds it needs nothing from http/.
 */
export interface GuestSink {
  update(snapshot: StatusSnapshot, pollSeconds: number): void;
  remove(vm: string): void;
}
