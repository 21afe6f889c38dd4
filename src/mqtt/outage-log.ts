import type { Logger } from "pino";
import { describeConnectError } from "./bus-options.js";

/**
 * What the log says of the broker going away and coming back: one warning per outage, not one per reconnect
 * attempt every second, and the last problem seen as the reason the outage is reported with.
 */
export class OutageLog {
  #wasConnected = false;
  #lastProblem: string | undefined;

  constructor(
    private readonly log: Logger,
    private readonly url: string,
    private readonly reconnectPeriodMs: number,
  ) {}

  connected(): void {
    this.#wasConnected = true;
    this.#lastProblem = undefined;
  }

  disconnectedBy(reasonCode: number | undefined): void {
    this.#lastProblem = `the broker disconnected us (reason code ${reasonCode ?? "?"})`;
  }

  /**
   * The connection closed: the reason, logged unless the bus was closed on purpose (`quiet`), or undefined
   * for a failed reconnect attempt, which error() logged already.
   */
  closed(quiet: boolean): string | undefined {
    if (!this.#wasConnected) return undefined;
    this.#wasConnected = false;
    const reason = this.#lastProblem ?? "the connection closed";
    if (!quiet)
      this.log.warn({ reason }, `lost the MQTT broker; reconnecting every ${this.reconnectPeriodMs} ms`);
    return reason;
  }

  /** A connection error; a warning only when it is news during reconnects, else at debug. */
  error(err: Error, reconnecting: boolean): void {
    const text = describeConnectError(this.url, err).message;
    if (text !== this.#lastProblem && reconnecting) this.log.warn(text);
    else this.log.debug(text);
    this.#lastProblem = text;
  }
}
