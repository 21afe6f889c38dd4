import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { FleetView, WorkerMetrics } from "./metrics.js";

export interface HttpServerOptions {
  /** host:port or [v6]:port (config `http.listen`); port 0 picks a free one (the log says which). */
  readonly listen: string;
  readonly metrics: WorkerMetrics;
  readonly fleet: FleetView;
  /** Subscribed to for the reason /healthz gives while the broker is away (MqttBus fits). */
  readonly bus: { onDisconnect(listener: (reason: string) => void): () => void };
  readonly log: Logger;
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
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { metrics, fleet, log } = options;
  let lastProblem = "not connected to the MQTT broker yet";
  const unsubscribe = options.bus.onDisconnect((reason) => {
    lastProblem = reason;
  });

  const server = http.createServer((request, response) => {
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
    response.writeHead(404, { "content-type": "text/plain" }).end("not found: try /healthz or /metrics\n");
  });
  // A scraper that keeps its connection open must not hold up the worker's shutdown.
  server.keepAliveTimeout = 5_000;

  const { host, port } = parseListen(options.listen);
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
  log.info(
    { host, port: bound },
    `HTTP on ${options.listen.replace(/:\d+$/, `:${bound}`)}: /healthz, /metrics`,
  );
  return {
    port: bound,
    async close() {
      unsubscribe();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
