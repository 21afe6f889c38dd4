import { createHash } from "node:crypto";
import type { Topics } from "../mqtt/topics.js";
import type { StatusSnapshot } from "../status/snapshot.js";

/*
 * What the builders of a device's components (entities.ts, buttons.ts) and the device config around them
 * (discovery.ts) share. Kept apart from discovery.ts, which imports the builders, so every import in ha/
 * points one way.
 */

/** One component of a device config (an entity); `platform` is required, the rest depends on it. */
export type Component = { readonly platform: string } & Readonly<Record<string, unknown>>;

export interface AvailabilityTopic {
  readonly topic: string;
  readonly payload_available: string;
  readonly payload_not_available: string;
}

/** What the discovery payload of one VM is made of. */
export interface VmFacts {
  readonly vm: string;
  readonly worker: string;
  readonly topics: Topics;
  /** The newest snapshot whose agent answered (it decides which entities exist), if any yet. */
  readonly status: StatusSnapshot | undefined;
  /** The commands and verbs the policy allows for this VM. */
  readonly allowed: ReadonlySet<string>;
  readonly version: string;
}

/**
 * A name made safe for a unique id and a discovery topic level (`[a-zA-Z0-9_-]`). When anything had to be
 * replaced, a short hash of the original is appended so that `a.b` and `a_b` do not collide; names that
 * are safe already stay readable and unchanged.
 */
export function safeId(name: string): string {
  const slug = name.replace(/[^a-zA-Z0-9_-]+/g, "_").replace(/^_+|_+$/g, "");
  if (slug === name) return slug;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 6);
  return slug === "" ? hash : `${slug}_${hash}`;
}

const ONLINE = { payload_available: "online", payload_not_available: "offline" } as const;

/** The worker's own state: without it, a worker that died would leave every VM looking fine. */
export function workerAvailability(topics: Topics): AvailabilityTopic {
  return { topic: topics.bridgeState(), ...ONLINE };
}

/** The worker's state and the VM's agent: an entity of the VM is available only when both are online. */
export function vmAvailability(topics: Topics, vm: string): Record<string, unknown> {
  return {
    availability: [workerAvailability(topics), { topic: topics.availability(vm), ...ONLINE }],
    availability_mode: "all",
  };
}
