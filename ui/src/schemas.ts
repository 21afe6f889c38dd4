import { z } from "zod";
import { BridgeInfoPayload } from "../../src/census/bridge-info-schema.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";

export type { ServedVm } from "../../src/census/bridge-info-schema.js";
export type { FilesystemStatus, InterfaceStatus, UserStatus } from "../../src/status/snapshot.js";
/*
 * Every payload the page reads, parsed here at its edge. The bridge info and the status snapshot reuse the
 * worker's own schemas (pure zod, no node imports); the snapshot is read with unknown top-level members
 * kept, so a newer worker's additions never hide a VM.
 */
export { BridgeInfoPayload };

export const Snapshot = z.looseObject(StatusSnapshot.shape);
export type Snapshot = z.infer<typeof Snapshot>;

export { CallReply } from "../../src/caller/call-reply.js";

/** An event of `<base>/<vm>/event` (src/worker/vm-runtime.ts adds `vm` and `time` to every one). */
export const VmEvent = z.looseObject({
  event: z.string(),
  vm: z.string().optional(),
  time: z.string().optional(),
});
export type VmEvent = z.infer<typeof VmEvent>;

/** `GET /config.json` of the dashboard server (src/dashboard/). */
export const DashboardConfig = z.object({
  brokerUrl: z.string().min(1),
  baseTopic: z.string().min(1),
  version: z.string().default(""),
  needsLogin: z.boolean().default(true),
});
export type DashboardConfig = z.infer<typeof DashboardConfig>;

/** Parses JSON text with `schema`; undefined for anything else (a foreign or broken payload is skipped). */
export function parseJson<T extends z.ZodType>(schema: T, text: string): z.infer<T> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
