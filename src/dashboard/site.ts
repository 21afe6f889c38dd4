import http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import { type DashboardConfig, pipePath } from "./config-json.js";
import { SECURITY_HEADERS } from "./headers.js";
import { isLoopback } from "./listen.js";
import { pipeWebSocket } from "./pipe.js";
import { staticFile } from "./static-files.js";
import { hostRefusal, originRefusal, type Refusal } from "./upgrade-checks.js";
import { type BrokerRoute, connectUpstream } from "./upstream.js";

export const DEFAULT_MAX_CONNECTIONS = 256;
const STOP_GRACE_MS = 3_000;

export interface ConsoleSiteOptions {
  /** Where the page is served, with both slashes: "/" for `qga-mqtt dashboard`, "/ui/" in the worker. */
  readonly base: string;
  /**
   * The built page (ensureUiBuilt's folder), absolute; or a promise of it while it is being built, which
   * the page's files wait for (config.json and the pipe do not need it). A rejected one answers 503.
   */
  readonly uiDir: string | Promise<string>;
  readonly route: BrokerRoute;
  /** What GET <base>config.json answers. */
  readonly config: DashboardConfig;
  /** The scheme the browser sees: the pipe's Origin check compares with it. */
  readonly scheme: "http" | "https";
  /** The host of the listen address: on loopback the Host header must name loopback or it. */
  readonly listenHost: string;
  /** Browser WebSockets piped at once; more are refused with 503. */
  readonly maxConnections?: number;
  readonly log: Logger;
}

/**
 * The console as one server's part: the page, its config.json and the pipe, under one path prefix, with
 * the checks that go with them. `qga-mqtt dashboard` serves it at "/", the worker's http.listen at "/ui/"
 * beside /healthz and /metrics; the server owns the listening socket, the site the requests given to it.
 */
export interface ConsoleSite {
  /** Whether a request path (as sent, without its query) is the site's. */
  owns(pathname: string): boolean;
  onRequest(request: http.IncomingMessage, response: http.ServerResponse): void;
  onUpgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** WebSockets piped now. */
  connections(): number;
  /** Closes every pipe (the browsers see 1001 and `reason`); resolves when all are closed. */
  closePipes(reason: string): Promise<void>;
}

/** The path of a request as sent: no normalising of `..` or escapes, which staticFile refuses itself. */
export function requestPath(request: http.IncomingMessage): string {
  return (request.url ?? "/").split("?", 1)[0] ?? "/";
}

/** Writes a refusal on a socket that asked for an upgrade, then drops it. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const body = `${refusal.message}\n`;
  socket.end(
    `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? ""}\r\n` +
      "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

type Page = { readonly dir: string } | { readonly problem: string };

export function consoleSite(options: ConsoleSiteOptions): ConsoleSite {
  const { base, log, route, scheme } = options;
  const loopbackOnly = isLoopback(options.listenHost);
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const configBody = JSON.stringify(options.config);
  const pipe = pipePath(base);
  const bare = base.slice(0, -1);
  const pipes = new Map<WebSocket, Promise<void>>();
  // Settled once, never rejected: a page that cannot be built is said once in the log, then per request.
  const page: Promise<Page> = Promise.resolve(options.uiDir).then(
    (dir) => ({ dir }),
    (error: Error) => {
      log.error({ err: error }, "dashboard: the page cannot be served");
      return { problem: error.message };
    },
  );

  const respond = (response: http.ServerResponse, status: number, type: string, body: string | Buffer) => {
    response.writeHead(status, { ...SECURITY_HEADERS, "content-type": type }).end(body);
  };
  const text = "text/plain; charset=utf-8";

  const serveFile = (request: http.IncomingMessage, response: http.ServerResponse, within: string) => {
    page
      .then(async (found) => {
        if ("problem" in found) return respond(response, 503, text, `${found.problem}\n`);
        const file = await staticFile(found.dir, within);
        if (!file) return respond(response, 404, text, "not found\n");
        response.setHeader("cache-control", file.cacheControl);
        respond(response, 200, file.contentType, request.method === "HEAD" ? "" : file.body);
      })
      .catch((error: unknown) => {
        log.error({ err: error, path: within }, "dashboard: reading a file of the page failed");
        respond(response, 500, text, "internal error\n");
      });
  };

  const wss = new WebSocketServer({
    noServer: true,
    // MQTT.js offers "mqtt" (or "mqttv3.1" for 3.1): the broker, not the pipe, cares which.
    handleProtocols: (offered) => (offered.has("mqtt") ? "mqtt" : ([...offered][0] ?? false)),
  });

  return {
    owns: (pathname) => pathname.startsWith(base) || (bare !== "" && pathname === bare),

    onRequest(request, response) {
      const refusal = hostRefusal(request, options.listenHost, loopbackOnly);
      if (refusal) return respond(response, refusal.status, text, `${refusal.message}\n`);
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { ...SECURITY_HEADERS, allow: "GET, HEAD" }).end();
        return;
      }
      const pathname = requestPath(request);
      // The page's URLs are relative ("./assets/…", "config.json"): they only resolve under the slash.
      if (pathname === bare) {
        response.writeHead(308, { ...SECURITY_HEADERS, location: base }).end();
        return;
      }
      const within = `/${pathname.slice(base.length)}`;
      if (within === "/config.json") {
        response.setHeader("cache-control", "no-store");
        return respond(response, 200, "application/json; charset=utf-8", configBody);
      }
      if (pathname === pipe) return respond(response, 426, text, "MQTT over WebSocket (subprotocol mqtt)\n");
      serveFile(request, response, within);
    },

    onUpgrade(request, socket, head) {
      socket.on("error", () => socket.destroy());
      const refusal =
        hostRefusal(request, options.listenHost, loopbackOnly) ??
        (requestPath(request) !== pipe
          ? { status: 404, message: `the MQTT WebSocket is at ${pipe}` }
          : undefined) ??
        originRefusal(request, scheme) ??
        (route.kind === "direct"
          ? { status: 404, message: `no pipe here: the broker's own WebSocket is ${route.url}` }
          : undefined) ??
        (pipes.size >= maxConnections
          ? {
              status: 503,
              message: `${maxConnections} browsers are connected already: the dashboard's limit`,
            }
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
    },

    connections: () => pipes.size,

    async closePipes(reason) {
      for (const ws of pipes.keys()) ws.close(1001, reason);
      const all = Promise.all(pipes.values());
      const late = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), STOP_GRACE_MS).unref()),
      ]);
      if (late) for (const ws of pipes.keys()) ws.terminate();
    },
  };
}
