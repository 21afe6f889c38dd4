import type { IncomingMessage } from "../mqtt/bus.js";
import { redactUrl } from "../net/redact-url.js";
import type { CallReply } from "./request.js";

/**
 * One message as `watch --json` prints it: `{topic, retained, payload}`, the payload as the JSON value it
 * is (a status is an object, for jq), else as the string it is (`online`, an empty retained clear).
 */
export function jsonLine(message: IncomingMessage): string {
  const text = message.payload.toString("utf8");
  const line = { topic: message.topic, retained: message.retain };
  const value = parseJson(text);
  if (value !== undefined) {
    try {
      return `${JSON.stringify({ ...line, payload: value })}\n`;
    } catch {
      // Nested too deep for JSON.stringify (anyone may publish on these topics): shown as the text it was.
    }
  }
  return `${JSON.stringify({ ...line, payload: text })}\n`;
}

/** One message for people: when it came, where, what. */
export function textLine(message: IncomingMessage, now = new Date()): string {
  return `${now.toISOString()} ${message.topic} ${message.payload.toString("utf8")}\n`;
}

export interface BannerFacts {
  /** The VM watched, or undefined for every VM. */
  readonly vm: string | undefined;
  readonly url: string;
  readonly base: string;
  /** status.heartbeatSeconds of the configuration the client read (the worker's own is what counts). */
  readonly heartbeatSeconds: number;
  /** Whether a fresh status was asked for. */
  readonly asking: boolean;
}

/**
 * The first line of `watch` (stderr, not in --json mode): without it a quiet VM looks like a broken
 * client, since status is published only on change and on the heartbeat.
 */
export function banner(facts: BannerFacts): string {
  const scope = facts.vm ?? "every VM";
  const root = `${facts.base}/${facts.vm ?? "+"}`;
  const fresh = facts.asking ? `; a fresh one is asked for now` : "";
  return (
    `watching ${scope} on ${redactUrl(facts.url)} (${root}/status, availability, event): status is published ` +
    `on change and at least every status.heartbeatSeconds (${facts.heartbeatSeconds} s in this ` +
    `configuration; the worker's own setting applies)${fresh}. Ctrl-C stops.\n`
  );
}

/** Why the fresh status did not come: the worker's own words (a policy refusal, an agent away). */
export function statusRefused(vm: string, reply: CallReply): string {
  const why = reply.error ? `${reply.error.code}: ${reply.error.message}` : "the worker said no";
  return `could not ask ${vm} for a fresh status (${why}); it still shows on change and on the heartbeat\n`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
