import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { isLoopback } from "../dashboard/listen.js";
import { consoleSite, requestPath } from "../dashboard/site.js";
import { UI_BASE, type WorkerConsole } from "./console.js";
import type { FleetView, WorkerMetrics } from "./metrics.js";

export interface HttpServerOptions {
  /** host:port or [v6]:port (config `http.listen`); port 0 picks a free one (the log says which). */
  readonly listen: string;
  readonly metrics: WorkerMetrics;
  readonly fleet: FleetView;
  /** Subscribed to for the reason /healthz gives while the broker is away (MqttBus fits). */
  readonly bus: { onDisconnect(listener: (reason: string) => void): () => void };
  readonly log: Logger;
  /** Config `http.ui`: the console under /ui/ as well (workerConsole); http.listen must be loopback. */
  readonly ui?: WorkerConsole;
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Splits `host:port` and `[::1]:port`; the schema has checked the shape already. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(listen.slice(colon + 1)) };
}

/**
 * `/healthz` for container and service supervisors, `/metrics` for Prometheus. Read-only and without
 * authentication: bind it to loopback or a management network (the default config has no server at all).
 * With `ui`, also the fleet console under /ui/ (consoleSite, as `qga-mqtt dashboard` serves it at /): the
 * page holds no power of its own, and its checks (Host, Origin, the cap on pipes) apply under /ui/ only,
 * so /healthz and /metrics answer as they do without it.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { metrics, fleet, log } = options;
  const { host, port } = parseListen(options.listen);
  // The schema refuses this already (http.ui); a caller that skipped it must not put a password on the wire.
  if (options.ui && !isLoopback(host))
    throw new Error(`http.ui: the console is served on a loopback http.listen only, not ${options.listen}`);
  const site = options.ui
    ? consoleSite({ base: UI_BASE, ...options.ui, scheme: "http", listenHost: host, log })
    : undefined;
  let lastProblem = "not connected to the MQTT broker yet";
  const unsubscribe = options.bus.onDisconnect((reason) => {
    lastProblem = reason;
  });

  const server = http.createServer((request, response) => {
    if (site?.owns(requestPath(request))) return site.onRequest(request, response);
    const url = new URL(request.url ?? "/", "http://localhost");
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (url.pathname === "/healthz") {
      const vms = fleet.vms();
      const connected = fleet.brokerConnected();
      const body = {
        status: connected ? "ok" : "unavailable",
        broker: connected ? "connected" : "disconnected",
        ...(connected ? {} : { reason: lastProblem }),
        vms: vms.length,
        agents_online: vms.filter((vm) => vm.availability === "online").length,
      };
      response
        .writeHead(connected ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify(body));
      return;
    }
    if (url.pathname === "/metrics") {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (error: unknown) => {
          log.error({ err: error }, "collecting the metrics failed");
          response.writeHead(500).end();
        },
      );
      return;
    }
    const paths = site ? `/healthz, /metrics or ${UI_BASE}` : "/healthz or /metrics";
    response.writeHead(404, { "content-type": "text/plain" }).end(`not found: try ${paths}\n`);
  });
  // A scraper that keeps its connection open must not hold up the worker's shutdown.
  server.keepAliveTimeout = 5_000;
  // Without the console nothing is upgraded (as before it existed); with it, the site answers them all.
  if (site) server.on("upgrade", (request, socket, head) => site.onUpgrade(request, socket, head));

  await new Promise<void>((resolve, reject) => {
    const refuse = (error: Error) => {
      unsubscribe();
      reject(new Error(`cannot listen on ${options.listen} (http.listen): ${error.message}`));
    };
    server.once("error", refuse);
    server.listen(port, host, () => {
      server.off("error", refuse);
      resolve();
    });
  });
  server.on("error", (error) => log.error({ err: error }, "the HTTP server failed"));
  const bound = (server.address() as AddressInfo).port;
  const address = options.listen.replace(/:\d+$/, `:${bound}`);
  log.info(
    { host, port: bound },
    site
      ? `HTTP on ${address}: /healthz, /metrics, and the console at http://${address}${UI_BASE}`
      : `HTTP on ${address}: /healthz, /metrics`,
  );
  return {
    port: bound,
    async close() {
      unsubscribe();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Piped browsers are upgraded sockets, which closeAllConnections leaves alone: closed first.
      await site?.closePipes("the worker is stopping");
      server.closeAllConnections();
      await closed;
    },
  };
}
