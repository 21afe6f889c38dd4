import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { type DashboardConfig, pageConfig } from "../dashboard/config-json.js";
import { packageRoot } from "../dashboard/package-root.js";
import { ensureUiBuilt } from "../dashboard/ui-files.js";
import { type BrokerRoute, brokerRoute } from "../dashboard/upstream.js";

/** Where the worker's HTTP server serves the console (config `http.ui`): the page, config.json, the pipe. */
export const UI_BASE = "/ui/";

/** The console as the worker serves it: what `qga-mqtt dashboard` would serve for the worker's own broker. */
export interface WorkerConsole {
  readonly route: BrokerRoute;
  readonly config: DashboardConfig;
  /** The built page's folder: a promise, as it may still be being built (see workerConsole). */
  readonly uiDir: Promise<string>;
  /** Browser WebSockets piped at once (the dashboard's default when unset). */
  readonly maxConnections?: number;
}

/**
 * The console for the broker the worker itself uses (`brokerUrl`: mqtt.url, or the local broker it found
 * or started). Only its host, port and CA are used, as by `qga-mqtt dashboard`: each person logs in with
 * their own broker user, and the worker lends the page nothing. The page is found or built here as the
 * dashboard finds it (ensureUiBuilt), but not waited for: a checkout without dist/ui builds it with Vite in
 * the background while the worker starts bridging, and requests for the page wait for that build; one that
 * cannot be built (an install without dist/ui) is an error in the log and a 503 under /ui/, never a worker
 * that does not start.
 */
export async function workerConsole(
  mqtt: Config["mqtt"],
  brokerUrl: string,
  version: string,
  log: Logger,
): Promise<WorkerConsole> {
  const own = { ...mqtt, url: brokerUrl };
  const route = await brokerRoute(own);
  const uiDir = ensureUiBuilt(packageRoot(), log).then((dir) => path.resolve(dir));
  // Handled where it is served (consoleSite); this only keeps an early failure from being "unhandled".
  uiDir.catch(() => {});
  return { route, config: pageConfig({ mqtt: own, route, version, base: UI_BASE }), uiDir };
}
