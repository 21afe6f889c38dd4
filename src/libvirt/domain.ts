// A domain as libvirt names it, on its own: the wire structs (procedures.ts) and the events they carry
// (events.ts) both hold one, and neither is to import the other.

/** A domain as libvirt names it on the wire (remote_nonnull_domain). */
export interface DomainRef {
  readonly name: string;
  /** Lower-case and dashed, as `virsh domuuid` prints it: 8-4-4-4-12 hex digits. */
  readonly uuid: string;
  /** The running domain's id, -1 when it is not running. */
  readonly id: number;
}
