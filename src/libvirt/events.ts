// The domain events a LibvirtConnection delivers: libvirt's lifecycle and agent-lifecycle callbacks.
import type { LIFECYCLE_EVENTS } from "./constants.js";
import type { DomainRef } from "./domain.js";

/** virDomainEventType by name; "unknown" for a value newer than this client. */
export type LifecycleEventName = (typeof LIFECYCLE_EVENTS)[number] | "unknown";

export type DomainEvent =
  /** `detail`: the virDomainEvent*DetailType of that event, e.g. 1 (DESTROYED) for "stopped". */
  | { kind: "lifecycle"; domain: DomainRef; event: LifecycleEventName; detail: number }
  /** `reason`: 0 unknown, 1 domain started, 2 channel state changed. */
  | { kind: "agent"; domain: DomainRef; state: "connected" | "disconnected"; reason: number };
