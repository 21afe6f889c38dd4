import { z } from "zod";

/**
 * A member that readers do without: absent or malformed, it is left out rather than failing the whole info
 * (an info may come from a worker of another version).
 */
const spare = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

/** One VM a worker serves, as its retained info says; members this schema does not name are kept. */
export const ServedVm = z.looseObject({
  name: z.string(),
  groups: z.array(z.string()).default([]),
  agent: z.enum(["online", "offline"]).catch("offline"),
  /** The commands and verbs the worker's policy allows on the VM, sorted. */
  commands: spare(z.array(z.string())),
});
export type ServedVm = z.infer<typeof ServedVm>;

/**
 * The retained `<base>/bridge/<worker>/info`: who the worker is and which VMs it serves. The worker builds
 * it (worker/bridge-info.ts) and every reader parses it (census/fleet-census.ts) with this one schema.
 */
export const BridgeInfoPayload = z.looseObject({
  worker: spare(z.string()),
  version: spare(z.string()),
  /**
   * How long (seconds) a request repeated with its id is answered with the first reply and not run again
   * (limits.dedupeWindowSeconds): what lets a caller send a request again when its reply may have been lost.
   */
  repeat_window_s: spare(z.number().nonnegative()),
  vms: z.array(ServedVm),
});
export type BridgeInfoPayload = z.infer<typeof BridgeInfoPayload>;
