import { readFile } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import type { Config } from "../config/schema.js";
import { DashboardError } from "./errors.js";

/** Where each browser's WebSocket is piped to: the configured broker's TCP or TLS port. */
export interface TcpUpstream {
  readonly kind: "tcp";
  readonly host: string;
  readonly port: number;
  /** Set for mqtts://: the server is verified as the worker verifies it, with mqtt.tls.ca. */
  readonly tls?: { readonly ca?: Buffer; readonly rejectUnauthorized: boolean };
}

/**
 * What the browser talks to. mqtt:// and mqtts:// brokers are reached through the dashboard's pipe; a
 * broker configured as ws:// or wss:// already speaks WebSocket, so the browser is sent there directly.
 */
export type BrokerRoute =
  | { readonly kind: "pipe"; readonly upstream: TcpUpstream; readonly shown: string }
  | { readonly kind: "direct"; readonly url: string };

/** A URL without its user part: the browser logs in with its own user, never with the configuration's. */
export function withoutCredentials(text: string): string {
  const url = new URL(text);
  url.username = "";
  url.password = "";
  return url.href;
}

/**
 * The route to the broker of the configuration (mqtt.url, QGA_MQTT_MQTT_URL or --url, as for call and
 * watch; unset: 127.0.0.1:1883, where the worker's embedded broker listens). Only the host, the port and
 * the server's CA are used: the configuration's user, password and client certificate are the worker's,
 * and the dashboard holds no power of its own.
 */
export async function brokerRoute(mqtt: Config["mqtt"]): Promise<BrokerRoute> {
  const text = mqtt.url ?? "mqtt://127.0.0.1:1883";
  const url = new URL(text);
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  if (scheme === "ws" || scheme === "wss") return { kind: "direct", url: withoutCredentials(text) };
  const secure = scheme === "mqtts";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (secure ? 8883 : 1883) : Number(url.port);
  const shown = `${scheme}://${url.host}`;
  if (!secure) return { kind: "pipe", upstream: { kind: "tcp", host, port }, shown };
  let ca: Buffer | undefined;
  if (mqtt.tls.ca !== undefined) {
    ca = await readFile(mqtt.tls.ca).catch((error: Error) => {
      throw new DashboardError("tls_files", `cannot read mqtt.tls.ca ${mqtt.tls.ca}: ${error.message}`);
    });
  }
  const tlsOptions = { rejectUnauthorized: mqtt.tls.rejectUnauthorized, ...(ca ? { ca } : {}) };
  return { kind: "pipe", upstream: { kind: "tcp", host, port, tls: tlsOptions }, shown };
}

/** A new connection to the broker: plain TCP, or TLS verified against the configured CA. */
export function connectUpstream(upstream: TcpUpstream): net.Socket {
  if (!upstream.tls) return net.connect({ host: upstream.host, port: upstream.port });
  return tls.connect({
    host: upstream.host,
    port: upstream.port,
    ...(net.isIP(upstream.host) === 0 ? { servername: upstream.host } : {}),
    rejectUnauthorized: upstream.tls.rejectUnauthorized,
    ...(upstream.tls.ca ? { ca: upstream.tls.ca } : {}),
  });
}
