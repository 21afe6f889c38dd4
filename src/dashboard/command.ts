import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { UsageError } from "../cli-args.js";
import type { Config } from "../config/schema.js";
import { pageConfig, pipePath } from "./config-json.js";
import { DashboardError } from "./errors.js";
import { DEFAULT_LISTEN, type ListenAddress, listenProblem, parseListen } from "./listen.js";
import { packageRoot } from "./package-root.js";
import { type Dashboard, startDashboard } from "./server.js";
import { ensureUiBuilt } from "./ui-files.js";
import { brokerRoute } from "./upstream.js";

/** The dashboard's options as typed (the CLI's values of the same names). */
export interface DashboardArgs {
  readonly listen?: string | undefined;
  readonly "broker-ws"?: string | undefined;
  readonly "tls-cert"?: string | undefined;
  readonly "tls-key"?: string | undefined;
  readonly "insecure-listen"?: boolean | undefined;
}

export interface DashboardPlan {
  readonly listen: ListenAddress;
  readonly brokerWs?: string;
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** The options checked against each other before anything starts: every problem here is exit 2. */
export function planDashboard(args: DashboardArgs): DashboardPlan {
  const listen = parseListen(args.listen ?? DEFAULT_LISTEN);
  if (typeof listen === "string") throw new UsageError(`--listen ${listen}`, "dashboard");
  const cert = args["tls-cert"];
  const key = args["tls-key"];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError("--tls-cert and --tls-key go together: give both files or neither", "dashboard");
  const problem = listenProblem(listen, cert !== undefined, args["insecure-listen"] === true);
  if (problem) throw new UsageError(problem, "dashboard");
  const brokerWs = args["broker-ws"];
  if (brokerWs !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(brokerWs);
    } catch {
      url = undefined;
    }
    if (!url || !/^wss?:$/.test(url.protocol))
      throw new UsageError(
        "--broker-ws must be a ws:// or wss:// URL, e.g. wss://broker.example:9001",
        "dashboard",
      );
    if (url.username !== "" || url.password !== "")
      throw new UsageError(
        "--broker-ws must not carry a user or password: each person logs in with their own broker user",
        "dashboard",
      );
  }
  return {
    listen,
    ...(brokerWs !== undefined ? { brokerWs } : {}),
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
  };
}

async function readPem(file: string, what: string): Promise<Buffer> {
  return readFile(file).catch((error: Error) => {
    throw new DashboardError(
      "tls_files",
      `cannot read the TLS ${what} ${file} (--tls-${what}): ${error.message}`,
    );
  });
}

export interface DashboardIo {
  readonly stderr: (text: string) => void;
  readonly stopSignal: Promise<string>;
}

/**
 * `qga-mqtt dashboard`: serves the page until SIGINT or SIGTERM. Exit 0 when stopped, 1 when it cannot
 * start (the page missing, the address taken, a certificate unreadable).
 */
export async function runDashboard(
  plan: DashboardPlan,
  config: Config,
  version: string,
  io: DashboardIo,
  log: Logger,
): Promise<number> {
  let dashboard: Dashboard;
  try {
    const route = await brokerRoute(config.mqtt);
    const settings = pageConfig({ mqtt: config.mqtt, route, version, base: "/", brokerWs: plan.brokerWs });
    const { brokerUrl } = settings;
    const tls = plan.tls
      ? { cert: await readPem(plan.tls.cert, "cert"), key: await readPem(plan.tls.key, "key") }
      : undefined;
    const uiDir = path.resolve(await ensureUiBuilt(packageRoot(), log));
    dashboard = await startDashboard({
      listen: plan.listen,
      uiDir,
      route,
      config: settings,
      ...(tls ? { tls } : {}),
      machineName: os.hostname(),
      log,
    });
    const via =
      brokerUrl === pipePath("/") && route.kind === "pipe"
        ? `through this server to ${route.shown}`
        : `at ${brokerUrl}`;
    io.stderr(
      `qga-mqtt dashboard: open ${dashboard.url} in a browser; it reaches the MQTT broker ${via} and logs in ` +
        "with your own broker user (Ctrl-C stops)\n",
    );
  } catch (error) {
    if (!(error instanceof DashboardError)) throw error;
    io.stderr(`qga-mqtt dashboard: ${error.message}\n`);
    return 1;
  }
  const signal = await io.stopSignal;
  log.info({ signal, open: dashboard.connections() }, "dashboard: stopping");
  await dashboard.close();
  return 0;
}
