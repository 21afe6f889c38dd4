import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import type { DashboardConfig } from "./config-json.js";
import { DashboardError } from "./errors.js";
import { SECURITY_HEADERS } from "./headers.js";
import { isLoopback, type ListenAddress, urlHost } from "./listen.js";
import { pipeWebSocket } from "./pipe.js";
import { staticFile } from "./static-files.js";
import { hostRefusal, originRefusal, type Refusal } from "./upgrade-checks.js";
import { type BrokerRoute, connectUpstream } from "./upstream.js";

export const DEFAULT_MAX_CONNECTIONS = 256;
const STOP_GRACE_MS = 3_000;

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

/** Writes a refusal on a socket that asked for an upgrade, then drops it. */
function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const body = `${refusal.message}\n`;
  socket.end(
    `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? ""}\r\n` +
      "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The dashboard's HTTP(S) server: the built page, /config.json, and at /mqtt the pipe from each browser's
 * WebSocket to the broker. It answers GET and HEAD only and holds no state of the fleet.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { log, route, uiDir } = options;
  const scheme = options.tls ? "https" : "http";
  const loopbackOnly = isLoopback(options.listen.host);
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const configBody = JSON.stringify(options.config);
  const pipes = new Map<WebSocket, Promise<void>>();

  const respond = (response: http.ServerResponse, status: number, type: string, body: string | Buffer) => {
    response.writeHead(status, { ...SECURITY_HEADERS, "content-type": type }).end(body);
  };

  const onRequest = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const refusal = hostRefusal(request, options.listen.host, loopbackOnly);
    if (refusal)
      return respond(response, refusal.status, "text/plain; charset=utf-8", `${refusal.message}\n`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { ...SECURITY_HEADERS, allow: "GET, HEAD" }).end();
      return;
    }
    const pathname = (request.url ?? "/").split("?", 1)[0] ?? "/";
    if (pathname === "/config.json") {
      response.setHeader("cache-control", "no-store");
      return respond(response, 200, "application/json; charset=utf-8", configBody);
    }
    if (pathname === "/mqtt") {
      return respond(response, 426, "text/plain; charset=utf-8", "MQTT over WebSocket (subprotocol mqtt)\n");
    }
    staticFile(uiDir, pathname).then(
      (file) => {
        if (!file) return respond(response, 404, "text/plain; charset=utf-8", "not found\n");
        response.setHeader("cache-control", file.cacheControl);
        respond(response, 200, file.contentType, request.method === "HEAD" ? "" : file.body);
      },
      (error: unknown) => {
        log.error({ err: error, path: pathname }, "dashboard: reading a file of the page failed");
        respond(response, 500, "text/plain; charset=utf-8", "internal error\n");
      },
    );
  };

  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest)
    : http.createServer(onRequest);
  server.keepAliveTimeout = 5_000;
  const wss = new WebSocketServer({
    noServer: true,
    // MQTT.js offers "mqtt" (or "mqttv3.1" for 3.1): the broker, not the pipe, cares which.
    handleProtocols: (offered) => (offered.has("mqtt") ? "mqtt" : ([...offered][0] ?? false)),
  });

  server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const pathname = (request.url ?? "/").split("?", 1)[0];
    const refusal =
      hostRefusal(request, options.listen.host, loopbackOnly) ??
      (pathname !== "/mqtt" ? { status: 404, message: "the MQTT WebSocket is at /mqtt" } : undefined) ??
      originRefusal(request, scheme) ??
      (route.kind === "direct"
        ? { status: 404, message: `no pipe here: the broker's own WebSocket is ${route.url}` }
        : undefined) ??
      (pipes.size >= maxConnections
        ? { status: 503, message: `${maxConnections} browsers are connected already: the dashboard's limit` }
        : undefined);
    if (refusal || route.kind !== "pipe") {
      if (refusal)
        log.warn({ remote: request.socket.remoteAddress, status: refusal.status }, refusal.message);
      refuseUpgrade(socket, refusal ?? { status: 404, message: "no pipe" });
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const remote = request.socket.remoteAddress;
      const upstream = connectUpstream(route.upstream);
      const done = pipeWebSocket(ws, upstream, log).finally(() => {
        pipes.delete(ws);
        log.debug({ remote, open: pipes.size }, "dashboard: browser WebSocket closed");
      });
      pipes.set(ws, done);
      log.info(
        { remote, broker: route.shown, open: pipes.size },
        "dashboard: browser connected, piped to the broker",
      );
    });
  });

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
    connections: () => pipes.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const ws of pipes.keys()) ws.close(1001, "the dashboard is stopping");
      const all = Promise.all(pipes.values());
      const late = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), STOP_GRACE_MS).unref()),
      ]);
      if (late) for (const ws of pipes.keys()) ws.terminate();
      server.closeAllConnections();
      await closed;
    },
  };
}
