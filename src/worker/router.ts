import type { Logger } from "pino";
import type { IncomingMessage } from "../mqtt/bus.js";
import type { CommandTopic, Topics } from "../mqtt/topics.js";

/**
 * One kind of message the worker takes, in the order they are tried: `take` answers whether the message
 * was of this kind (and handled it).
 */
export interface Route {
  readonly kind: "census" | "homeassistant" | "command";
  take(message: IncomingMessage): boolean;
}

/** Requests kept while the first fleet is set up; more than a resumed session would plausibly hold. */
const MAX_EARLY_COMMANDS = 10_000;

/**
 * Every message from the broker enters the worker here (see the README's request path): the table of
 * routes below, tried in order. Commands that arrive before the first fleet is applied (a resumed session
 * delivers what was queued at once) wait in the one early buffer; after `close` only the census is taken.
 */
export class MessageRouter {
  private early: IncomingMessage[] | undefined = [];
  private closed = false;
  private readonly routes: readonly Route[];

  constructor(options: {
    readonly topics: Topics;
    readonly log: Logger;
    /** Every worker's retained state and info; true when the message was one (census/fleet-census.ts). */
    readonly census: (message: IncomingMessage) => boolean;
    /** Home Assistant's birth message and discovery configs; true when the message was one. */
    readonly homeassistant?: (message: IncomingMessage) => boolean;
    /** A request on a VM's or a group's command topic. */
    readonly command: (message: IncomingMessage, topic: CommandTopic) => void;
  }) {
    const { topics, log, census, homeassistant, command } = options;
    this.routes = [
      { kind: "census", take: census },
      ...(homeassistant ? [{ kind: "homeassistant" as const, take: homeassistant }] : []),
      {
        kind: "command",
        take: (message) => {
          const parsed = topics.parseCommand(message.topic);
          if (!parsed) return false;
          if (message.retain && message.payload.length === 0) {
            // How a retained command is cleared (`mosquitto_pub -r -n -t ...`): nothing to run or answer.
            log.debug({ topic: message.topic }, "an empty retained publish cleared a retained command");
          } else command(message, parsed);
          return true;
        },
      },
    ];
  }

  /** Hands a message to the first route that takes it. */
  deliver(message: IncomingMessage): void {
    for (const route of this.routes) {
      // Stopping, the worker still follows the census (who serves what) but takes nothing else.
      if (this.closed && route.kind !== "census") return;
      if (route.kind === "command" && this.early) {
        if (this.early.length < MAX_EARLY_COMMANDS) this.early.push(message);
        return;
      }
      if (route.take(message)) return;
    }
  }

  /** The first fleet is applied: the commands kept meanwhile are routed, and the next ones at once. */
  open(): void {
    const early = this.early ?? [];
    this.early = undefined;
    for (const message of early) this.deliver(message);
  }

  /** The worker stops: no more commands or Home Assistant messages. */
  close(): void {
    this.closed = true;
  }
}
