import type { MqttClient } from "mqtt";

/**
 * The subscriptions of the bus: the filters the worker wants, and the ones the broker acknowledged in the
 * current session. After every CONNACK the two are reconciled: a lost session (broker restarted without
 * persistence, session expired) is subscribed again, and an UNSUBSCRIBE that could not be sent while
 * offline is sent then, so a VM that moved to another host stops being routed here. A resumed session is
 * not subscribed again: on 3.1.1 that would make the broker hand over every retained command once more.
 *
 * MQTT.js's own `resubscribe` is off: it cannot send the missed UNSUBSCRIBEs.
 */
export class Subscriptions {
  readonly #wanted = new Set<string>();
  readonly #brokerHas = new Set<string>();
  /** Changes run one at a time so that a late UNSUBACK cannot undo a later SUBSCRIBE of the same filter. */
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: () => MqttClient | undefined,
    /** The version in use, asked at every SUBSCRIBE: a bus may fall back from 5 to 3.1.1 on its first connect. */
    private readonly protocolVersion: () => 4 | 5,
  ) {}

  /** Idempotent; while disconnected it only records the filters (the next connect subscribes). */
  add(filters: readonly string[]): Promise<void> {
    for (const filter of filters) this.#wanted.add(filter);
    return this.#serial(async () => {
      const missing = filters.filter((f) => this.#wanted.has(f) && !this.#brokerHas.has(f));
      if (this.#connected() && missing.length > 0) await this.#subscribe(missing);
    });
  }

  remove(filters: readonly string[]): Promise<void> {
    for (const filter of filters) this.#wanted.delete(filter);
    return this.#serial(async () => {
      const present = filters.filter((f) => !this.#wanted.has(f) && this.#brokerHas.has(f));
      if (this.#connected() && present.length > 0) await this.#unsubscribe(present);
    });
  }

  /** After a CONNACK: brings the broker's subscriptions in line with the wanted ones. */
  restore(sessionPresent: boolean, stale: () => boolean): Promise<void> {
    if (!sessionPresent) this.#brokerHas.clear();
    return this.#serial(async () => {
      if (stale()) return;
      const gone = [...this.#brokerHas].filter((f) => !this.#wanted.has(f));
      const missing = [...this.#wanted].filter((f) => !this.#brokerHas.has(f));
      if (gone.length > 0) await this.#unsubscribe(gone);
      if (missing.length > 0) await this.#subscribe(missing);
    });
  }

  #connected(): boolean {
    return this.client()?.connected ?? false;
  }

  #serial(operation: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(operation);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** QoS 1; on MQTT 5 also Retain As Published (retained requests are recognised live) and No Local. */
  #subscribe(filters: string[]): Promise<void> {
    const options =
      this.protocolVersion() === 5 ? { qos: 1 as const, rap: true, nl: true } : { qos: 1 as const };
    return new Promise((resolve, reject) => {
      this.client()!.subscribe(filters, options, (err, _granted, packet) => {
        // One SUBACK answers the whole list, one code per filter in order; 0x80 and up is a refusal.
        const codes = packet?.granted ?? [];
        const refused: string[] = [];
        filters.forEach((filter, i) => {
          const code = codes[i];
          if (typeof code !== "number") return;
          if (code < 0x80) this.#brokerHas.add(filter);
          else refused.push(filter);
        });
        for (const filter of refused) this.#wanted.delete(filter);
        if (refused.length > 0) {
          reject(new Error(`the broker refused the subscription to ${refused.join(", ")} (ACL?)`));
        } else if (err && this.#connected()) {
          reject(new Error(`subscribing to ${filters.join(", ")} failed: ${err.message}`, { cause: err }));
        } else {
          // Done, or the connection dropped meanwhile: the filters stay wanted and the next connect subscribes.
          resolve();
        }
      });
    });
  }

  async #unsubscribe(filters: string[]): Promise<void> {
    try {
      await this.client()!.unsubscribeAsync(filters);
      for (const filter of filters) this.#brokerHas.delete(filter);
    } catch (err) {
      // Still recorded as the broker's: the next connect sends the UNSUBSCRIBE again if the session survived.
      if (this.#connected())
        throw new Error(`unsubscribing from ${filters.join(", ")} failed`, { cause: err });
    }
  }
}
