import type http from "node:http";
import { isLoopback } from "./listen.js";

/** A refusal of a request or WebSocket upgrade: the status and a sentence for whoever looks. */
export interface Refusal {
  readonly status: number;
  readonly message: string;
}

/** The host name of a Host header, without its port or brackets. */
function hostName(header: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(header);
  if (bracketed) return bracketed[1] ?? "";
  return header.replace(/:\d*$/, "");
}

/**
 * DNS rebinding: a page of another site whose name is made to resolve to 127.0.0.1 is same-origin with
 * itself, not with the dashboard, but its requests reach a loopback listener with its own name as Host.
 * A loopback dashboard answers only to loopback names and the address it was given.
 */
export function hostRefusal(
  request: http.IncomingMessage,
  listenHost: string,
  loopbackOnly: boolean,
): Refusal | undefined {
  if (!loopbackOnly) return undefined;
  const name = hostName(request.headers.host ?? "").toLowerCase();
  if (isLoopback(name) || name === listenHost.toLowerCase()) return undefined;
  return {
    status: 421,
    message: `this dashboard listens on loopback and answers to localhost or 127.0.0.1, not to ${name || "(no Host)"}`,
  };
}

/**
 * Cross-site WebSocket hijacking: a browser opens WebSockets to any site and sends the Origin of the page
 * that asked. Only the dashboard's own page may use the pipe. A client that sends no Origin is no browser
 * (MQTT.js in Node, a script): it could reach whatever the dashboard reaches in any case.
 */
export function originRefusal(request: http.IncomingMessage, scheme: "http" | "https"): Refusal | undefined {
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  const own = `${scheme}://${request.headers.host ?? ""}`.toLowerCase();
  if (origin.toLowerCase() === own) return undefined;
  return {
    status: 403,
    message: `WebSocket from ${origin} refused: only the dashboard's own page (${own}) may connect`,
  };
}
