/**
 * The retained topics a bus republishes after every connect, because the broker may have lost them: the
 * latest payload of each topic it sets, and the topics it cleared until the broker acknowledged the clear.
 */
export class RetainedTopics {
  readonly #payloads = new Map<string, string>();
  readonly #clears = new Set<string>();

  set(topic: string, payload: string): void {
    this.#clears.delete(topic);
    this.#payloads.set(topic, payload);
  }

  clear(topic: string): void {
    this.#payloads.delete(topic);
    this.#clears.add(topic);
  }

  /** Neither republished nor cleared any more: someone else publishes the topic now. */
  forget(topic: string): void {
    this.#payloads.delete(topic);
    this.#clears.delete(topic);
  }

  /** The broker acknowledged a clear of `topic`: done, unless the topic was set again meanwhile. */
  cleared(topic: string): void {
    if (!this.#payloads.has(topic)) this.#clears.delete(topic);
  }

  /** The topics to clear again, and the topics to publish again with their payloads. */
  pending(): { readonly clears: string[]; readonly payloads: Array<[string, string]> } {
    return { clears: [...this.#clears], payloads: [...this.#payloads] };
  }
}
