import pino, { type Logger } from "pino";
import { type LogFormat, prettyStream } from "./log-format.js";
import { redactUrl } from "./net/redact-url.js";

/**
 * Paths pino blanks wherever they occur in a log object: secrets are redacted by configuration, never by
 * remembering to leave them out. Four levels deep, so that a whole configuration logged by mistake
 * (`{config: {mqtt: {tls: {keyPassphrase}}}}`) is covered too. Request arguments are never logged whole, but
 * if one ever is, its password and file content are covered here too.
 */
const SECRETS = ["password", "keyPassphrase"];
const DEPTHS = ["", "*.", "*.*.", "*.*.*."];
export const REDACTED_PATHS = [
  ...SECRETS.flatMap((key) => DEPTHS.map((depth) => `${depth}${key}`)),
  "content",
  "*.content",
  "*.*.content",
  "args.stdin",
  'args["input-data"]',
  'args["buf-b64"]',
];

/**
 * URLs are kept but pass through the one URL redactor (their password replaced): the code redacts the URLs
 * it logs itself, and this catches the one it forgets, in a log object or in a child logger's bindings.
 */
export const URL_PATHS = DEPTHS.map((depth) => `${depth}url`);

function censor(value: unknown, path: string[]): unknown {
  if (path.at(-1) !== "url") return "[redacted]";
  return typeof value === "string" ? redactUrl(value) : "[redacted]";
}

/**
 * The logger, into `destination` (default stdout) in `format` (default JSON, the format of every line
 * before there was a choice; see log-format.ts).
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  format: LogFormat = "json",
): Logger {
  return pino(
    {
      level,
      base: { service: "qga-mqtt" },
      redact: { paths: [...REDACTED_PATHS, ...URL_PATHS], censor },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    format === "pretty" ? prettyStream(destination) : destination,
  );
}
