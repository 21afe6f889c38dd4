import type { Logger } from "pino";
import { z } from "zod";

/**
 * What MQTT.js hands a publish's callback when the broker's PUBACK carries a reason code of 0x80 or more
 * (MQTT 5 only; a 3.1.1 PUBACK has no reason code): the broker received the message and refused it.
 */
const RefusedAck = z.object({ code: z.number().int().min(0x80).max(0xff), message: z.string() });

/** MQTT 5 reason code 0x87: the broker's ACL does not let this client publish to the topic. */
export const NOT_AUTHORIZED = 135;

export interface PublishRefusal {
  readonly topic: string;
  readonly reasonCode: number;
  /** The reason in words, as MQTT.js names the code ("Not authorized"). */
  readonly reason: string;
}

/**
 * The refusal a publish error stands for, or undefined for any other failure (the connection lost, no
 * PUBACK in time): those may go through on the next attempt, a refusal gets the same answer every time.
 */
export function refusalOf(topic: string, error: unknown): PublishRefusal | undefined {
  const parsed = RefusedAck.safeParse(error);
  if (!parsed.success) return undefined;
  const { code, message } = parsed.data;
  return {
    topic,
    reasonCode: code,
    reason: message.replace(/^Publish error: /, "") || `reason code ${code}`,
  };
}

/** A refused publish for a client that must tell its user at once (`qga-mqtt call`), not wait for replies. */
export class PublishRefusedError extends Error {
  constructor(readonly refusal: PublishRefusal) {
    const { topic, reason, reasonCode } = refusal;
    const hint =
      reasonCode === NOT_AUTHORIZED
        ? ": the broker's ACL does not give this MQTT user write access to that topic"
        : "";
    super(`the broker refused the publish to ${topic} (${reason}, reason code ${reasonCode})${hint}`);
    this.name = "PublishRefusedError";
  }
}

/** Where a bus's refused publishes go: every listener is told, and the publish's own promise decides. */
export class PublishRefusals {
  readonly #listeners = new Set<(refusal: PublishRefusal) => void>();

  constructor(
    private readonly log: Logger,
    /** Reject every refused publish's promise (BusOptions.refusedPublish "reject"), not only those that ask. */
    private readonly rejectAll: boolean,
  ) {}

  listen(listener: (refusal: PublishRefusal) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A publish's error as its promise sees it: a refusal is reported, and unless asked to reject is none. */
  outcome(topic: string, err: Error | undefined, reject: boolean): Error | undefined {
    // MQTT.js passes null, not undefined, for a publish that went through.
    const refusal = err ? refusalOf(topic, err) : undefined;
    if (!refusal) return err ?? undefined;
    for (const listener of this.#listeners) {
      try {
        listener(refusal);
      } catch (error) {
        this.log.error({ err: error }, "an MQTT publish-refused listener failed");
      }
    }
    return reject || this.rejectAll ? new PublishRefusedError(refusal) : undefined;
  }
}
