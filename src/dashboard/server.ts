import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { DashboardConfig } from "./config-json.js";
import { DashboardError } from "./errors.js";
import { type ListenAddress, urlHost } from "./listen.js";
import { consoleSite } from "./site.js";
import type { BrokerRoute } from "./upstream.js";

export { DEFAULT_MAX_CONNECTIONS } from "./site.js";

export interface DashboardOptions {
  readonly listen: ListenAddress;
  /** The built page (ensureUiBuilt's folder), absolute. */
  readonly uiDir: string;
  readonly route: BrokerRoute;
  /** What GET /config.json answers. */
  readonly config: DashboardConfig;
  /** Certificate and key (PEM): served as https and wss. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Browser WebSockets piped at once; more are refused with 503. */
  readonly maxConnections?: number;
  /** The machine's name, for the URL of a wildcard listen. */
  readonly machineName: string;
  readonly log: Logger;
}

export interface Dashboard {
  /** What to open in a browser. */
  readonly url: string;
  readonly port: number;
  /** WebSockets piped now. */
  connections(): number;
  /** Stops listening, closes every pipe (the browsers see 1001), resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * The dashboard's HTTP(S) server: the console (consoleSite) at "/": the built page, /config.json, and at
 * /mqtt the pipe from each browser's WebSocket to the broker. It answers GET and HEAD only and holds no
 * state of the fleet.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { log } = options;
  const scheme = options.tls ? "https" : "http";
  const site = consoleSite({
    base: "/",
    uiDir: options.uiDir,
    route: options.route,
    config: options.config,
    scheme,
    listenHost: options.listen.host,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    log,
  });
  const onRequest = (request: http.IncomingMessage, response: http.ServerResponse) =>
    site.onRequest(request, response);
  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest)
    : http.createServer(onRequest);
  server.keepAliveTimeout = 5_000;
  server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) =>
    site.onUpgrade(request, socket, head),
  );

  const { host, port } = options.listen;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new DashboardError("listen_failed", `cannot listen on ${host}:${port}: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  server.on("error", (error) => log.error({ err: error }, "dashboard: server error"));
  const actual = (server.address() as AddressInfo).port;

  return {
    url: `${scheme}://${urlHost(host, options.machineName)}:${actual}/`,
    port: actual,
    connections: () => site.connections(),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await site.closePipes("the dashboard is stopping");
      server.closeAllConnections();
      await closed;
    },
  };
}
