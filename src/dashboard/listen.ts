import { isIP } from "node:net";
import { z } from "zod";

/** Where the dashboard listens, from `--listen HOST:PORT` (or `[v6]:PORT`). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_LISTEN = "127.0.0.1:8088";

const ListenText = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):\d{1,5}$/, {
    error: "must be HOST:PORT, e.g. 127.0.0.1:8088 or [::1]:8088",
  })
  .transform((text, ctx): ListenAddress => {
    const colon = text.lastIndexOf(":");
    const host = text.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
    const port = Number(text.slice(colon + 1));
    if (port > 65_535) {
      ctx.addIssue({ code: "custom", message: `the port ${port} is not a number from 0 to 65535` });
      return z.NEVER;
    }
    return { host, port };
  });

/** The address, or the problem with it in words for `--listen: …`. */
export function parseListen(text: string): ListenAddress | string {
  const parsed = ListenText.safeParse(text);
  return parsed.success ? parsed.data : (parsed.error.issues[0]?.message ?? "is not HOST:PORT");
}

/** Whether only this machine can reach the address: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === "localhost" || lower.endsWith(".localhost")) return true;
  if (isIP(lower) === 4) return lower.startsWith("127.");
  if (isIP(lower) === 6) return lower === "::1" || /^::ffff:127\./.test(lower);
  return false;
}

/**
 * The rule for a listen address: loopback is served as it is; anything else carries the person's broker
 * password over the network, so it needs a certificate (https and wss) or the explicit --insecure-listen.
 */
export function listenProblem(address: ListenAddress, tls: boolean, insecure: boolean): string | undefined {
  if (isLoopback(address.host) || tls || insecure) return undefined;
  return (
    `--listen ${address.host} is not a loopback address: the browser's broker password would cross the ` +
    "network in clear text. Give --tls-cert FILE --tls-key FILE to serve https and wss, or " +
    "--insecure-listen to serve plain http anyway (e.g. behind a TLS proxy)"
  );
}

/** The host part of a URL for the address: a wildcard is no address to open, the machine's name is. */
export function urlHost(host: string, machineName: string): string {
  const shown = host === "0.0.0.0" || host === "::" || host === "" ? machineName : host;
  return isIP(shown) === 6 ? `[${shown}]` : shown;
}
