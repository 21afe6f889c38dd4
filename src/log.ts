import pino, { type Logger } from "pino";

/**
 * Paths pino blanks wherever they occur in a log object: secrets are redacted by configuration, never by
 * remembering to leave them out. Request arguments are never logged whole, but if one ever is, its
 * password and file content are covered here too.
 */
export const REDACTED_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "keyPassphrase",
  "*.keyPassphrase",
  "*.*.keyPassphrase",
  "content",
  "*.content",
  "*.*.content",
  "args.stdin",
  'args["input-data"]',
  'args["buf-b64"]',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "qga-mqtt" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
