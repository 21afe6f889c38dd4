import { z } from "zod";

/**
 * GET /config.json: what the page needs before it connects. `brokerUrl` is an absolute ws:// or wss://
 * URL (the broker's own WebSocket listener) or "/mqtt" (this origin's pipe). `needsLogin`: the configured
 * broker takes a user and password (mqtt.username is set), so the page asks the person for their own;
 * without one the page may connect anonymously. The dashboard's own credentials never appear here.
 */
export const DashboardConfig = z.strictObject({
  brokerUrl: z.union([z.literal("/mqtt"), z.string().regex(/^wss?:\/\/[^@/]+(\/|$)/)]),
  baseTopic: z.string().min(1),
  version: z.string(),
  needsLogin: z.boolean(),
});
export type DashboardConfig = z.infer<typeof DashboardConfig>;
