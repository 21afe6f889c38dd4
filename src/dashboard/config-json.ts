import { z } from "zod";
import type { Config } from "../config/schema.js";
import type { BrokerRoute } from "./upstream.js";

/**
 * GET /config.json: what the page needs before it connects. `brokerUrl` is an absolute ws:// or wss://
 * URL (the broker's own WebSocket listener) or a path of this origin ending in /mqtt (the pipe: "/mqtt"
 * from `qga-mqtt dashboard`, "/ui/mqtt" from the worker's http.listen). `needsLogin`: the configured
 * broker takes a user and password (mqtt.username is set), so the page asks the person for their own;
 * without one the page may connect anonymously. The dashboard's own credentials never appear here.
 */
export const DashboardConfig = z.strictObject({
  brokerUrl: z.union([z.string().regex(/^\/([\w-]+\/)*mqtt$/), z.string().regex(/^wss?:\/\/[^@/]+(\/|$)/)]),
  baseTopic: z.string().min(1),
  version: z.string(),
  needsLogin: z.boolean(),
});
export type DashboardConfig = z.infer<typeof DashboardConfig>;

/** The pipe's path for a page served under `base` ("/" or "/ui/"): beside the page, so one prefix holds both. */
export function pipePath(base: string): string {
  return `${base}mqtt`;
}

/** Whether the configured broker takes a user: then the page asks the person for theirs. */
export function needsLogin(mqtt: Config["mqtt"]): boolean {
  if (mqtt.username !== undefined) return true;
  try {
    return new URL(mqtt.url ?? "mqtt://127.0.0.1:1883").username !== "";
  } catch {
    return true;
  }
}

export interface PageConfigInput {
  readonly mqtt: Config["mqtt"];
  readonly route: BrokerRoute;
  readonly version: string;
  /** Where the page is served: the pipe is beside it. */
  readonly base: string;
  /** The broker's own WebSocket listener to send the browser to instead (`--broker-ws`). */
  readonly brokerWs?: string | undefined;
}

/** What /config.json answers, for `qga-mqtt dashboard` and the worker's /ui/ alike. */
export function pageConfig(input: PageConfigInput): DashboardConfig {
  const { route } = input;
  return {
    brokerUrl: input.brokerWs ?? (route.kind === "direct" ? route.url : pipePath(input.base)),
    baseTopic: input.mqtt.baseTopic,
    version: input.version,
    needsLogin: needsLogin(input.mqtt),
  };
}
