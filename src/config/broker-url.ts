import { z } from "zod";
import { redactUrl } from "../net/redact-url.js";

/**
 * What makes a broker URL usable, checked where it is given (mqtt.url, QGA_MQTT_MQTT_URL, --url) rather
 * than when MQTT.js fails on it: `127.0.0.1:1883` has no scheme, `mqtt://broker host:1883` no valid host;
 * MQTT.js would report the first as a DNS failure and the second as an unparsable URL.
 *
 * The problems are said as predicates ("must start with …") so that one text serves `mqtt.url (line 3): …`
 * and `--url …`. They never repeat the URL's user part: it may hold a password.
 */
const SCHEMES = "mqtt://, mqtts://, ws:// or wss://";

export function brokerUrlProblem(text: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (scheme === undefined) {
    // `127.0.0.1:1883` or `broker`: the scheme is what is missing; the redactor hides any password.
    return `must start with ${SCHEMES}: did you mean ${redactUrl(`mqtt://${text}`)}?`;
  }
  if (!/^(mqtts?|wss?)$/i.test(scheme)) return `must start with ${SCHEMES}, not ${scheme}://`;
  const authority = text.slice(scheme.length + 3).split(/[/?#]/, 1)[0] ?? "";
  // The host and port are after the last "@" (what comes before is the user part).
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const ipv6 = /^\[[^\]]*\]/.exec(hostPort)?.[0];
  const host = ipv6 ?? hostPort.replace(/:[^:]*$/, "");
  const port = hostPort.slice(host.length + 1);
  if (host === "") return "names no host: e.g. mqtt://127.0.0.1:1883";
  if (/\s/.test(host))
    return `the host ${JSON.stringify(host)} is not a valid host name: it contains a space`;
  if (hostPort.length > host.length && !(/^\d{1,5}$/.test(port) && Number(port) <= 65_535)) {
    return `the port ${JSON.stringify(port)} is not a number from 1 to 65535`;
  }
  try {
    new URL(text);
  } catch {
    return `is not a valid URL (e.g. mqtt://broker.example:1883)`;
  }
  return undefined;
}

/** A broker URL in the configuration (the pattern is for editors, through the JSON Schema). */
export const BrokerUrl = z
  .string()
  .superRefine((text, ctx) => {
    const problem = brokerUrlProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ pattern: "^(mqtts?|wss?)://" });
