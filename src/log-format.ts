import pino, { type DestinationStream } from "pino";
import { prettyFactory } from "pino-pretty";

/**
 * How log lines look: `pretty` for a person at a terminal (`[2026-12-07 15:34:58.787] INFO: worker ready`,
 * the other fields indented below), `json` for a collector (one object per line, pino's numeric levels).
 */
export const LOG_FORMATS = ["pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The configured format; unset, pretty where a person is watching (stdout is a terminal), else JSON. */
export function chooseLogFormat(configured: LogFormat | undefined, stdoutIsTty: boolean): LogFormat {
  return configured ?? (stdoutIsTty ? "pretty" : "json");
}

/**
 * pino's JSON lines made pretty by pino-pretty, line by line in the caller's turn: not pino-pretty's stream
 * (a Transform that would still hold the last lines when the process exits) nor a transport (a worker
 * thread). By default into stdout with synchronous writes, so a line logged just before a crash or an exit
 * is on the terminal; pino's destination also stops writing, quietly, when stdout is a closed pipe.
 * Redaction happened before: pino redacts while it serialises, whatever the format.
 */
export function prettyStream(
  destination: DestinationStream = pino.destination({ dest: 1, sync: true }),
): DestinationStream {
  const pretty = prettyFactory({
    translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
    // The service name is on every line and says nothing at a terminal; pino's pid and hostname are off.
    ignore: "service,pid,hostname",
  });
  return { write: (line: string) => destination.write(pretty(line)) };
}
