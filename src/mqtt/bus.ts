import type { IConnackPacket, MqttClient } from "mqtt";
import type { Logger } from "pino";
import { within } from "../async/within.js";
import { redactUrl } from "../net/redact-url.js";
import { type BusOptions, describeConnectError } from "./bus-options.js";
import { attemptConnection } from "./connect-attempt.js";
import type { IncomingMessage } from "./incoming.js";
import { OutageLog } from "./outage-log.js";
import { PendingPublishes } from "./pending-publishes.js";
import { FALLBACK_NOTE, NEITHER_VERSION, refusesProtocolVersion } from "./protocol-fallback.js";
import { clientPublishOptions, type PublishOptions } from "./publish-options.js";
import { type PublishRefusal, PublishRefusals } from "./publish-refusal.js";
import { RetainedTopics } from "./retained-topics.js";
import { Subscriptions } from "./subscriptions.js";
import { assertPublishable } from "./topics.js";
import { type Corkable, WriteBatch } from "./write-batch.js";

export type { BusOptions } from "./bus-options.js";
export type { IncomingMessage } from "./incoming.js";
export type { PublishOptions } from "./publish-options.js";
export type { PublishRefusal } from "./publish-refusal.js";

/**
 * The one connection to the broker. It owns what must survive a reconnect: the subscriptions, the retained
 * messages (republished on every connect, the broker may have lost them) and the last will. Publishes made
 * while disconnected wait for the connection, bounded by `publishTimeoutMs`, and are refused after it.
 */
export class MqttBus {
  readonly #options: BusOptions;
  readonly #log: Logger;
  readonly #publishTimeoutMs: number;
  #client: MqttClient | undefined;
  #version: 4 | 5;
  #closed = false;
  /** Incremented on every CONNACK, so the work started for an older connection stops. */
  #generation = 0;
  readonly #outage: OutageLog;
  readonly #subscriptions: Subscriptions;
  readonly #retained = new RetainedTopics();
  readonly #connectListeners = new Set<() => void | Promise<void>>();
  readonly #disconnectListeners = new Set<(reason: string) => void>();
  readonly #refusals: PublishRefusals;
  readonly #pending: PendingPublishes;
  #handler: ((message: IncomingMessage) => void) | undefined;
  readonly #batch = new WriteBatch(
    () => {
      const stream = this.#client?.stream as Partial<Corkable> | undefined;
      return stream?.cork && stream.uncork ? (stream as Corkable) : undefined;
    },
    (err) => this.#log.error({ err }, "work around an MQTT write failed"),
  );

  constructor(options: BusOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.#pending = new PendingPublishes(this.#publishTimeoutMs);
    this.#version = options.protocolVersion;
    this.#refusals = new PublishRefusals(this.#log, options.refusedPublish === "reject");
    this.#outage = new OutageLog(this.#log, options.url, options.reconnectPeriodMs ?? 1000);
    this.#subscriptions = new Subscriptions(
      () => this.#client,
      () => this.#version,
    );
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** The version in use: the configured one, or 4 once a broker refused 5 (see protocol-fallback.ts). */
  get protocolVersion(): 4 | 5 {
    return this.#version;
  }

  /**
   * Resolves on the first CONNACK; rejects with a readable error if the first attempt fails (no retry). A
   * broker that refuses MQTT 5 is asked again with MQTT 3.1.1 (see protocol-fallback.ts).
   */
  async connect(): Promise<void> {
    if (this.#client) throw new Error("MqttBus.connect() was already called");
    const url = this.#options.url;
    try {
      await this.#attempt();
    } catch (first) {
      if (this.#version !== 5 || !refusesProtocolVersion(first) || this.#closed) throw this.#failed(first);
      this.#log.debug({ url: redactUrl(url), code: (first as { code?: unknown }).code }, FALLBACK_NOTE);
      this.#version = 4;
      try {
        await this.#attempt();
      } catch (second) {
        if (!refusesProtocolVersion(second)) throw this.#failed(second);
        this.#closed = true;
        const where = `cannot connect to the MQTT broker at ${redactUrl(url)}`;
        throw new Error(`${where}: ${NEITHER_VERSION}`, { cause: second });
      }
    }
  }

  /** The first connect gave up: nothing retries in the background, the caller decides what comes next. */
  #failed(err: unknown): Error {
    this.#closed = true;
    return describeConnectError(this.#options.url, err);
  }

  /** One connection attempt with the current protocol version; rejects with MQTT.js's own error. */
  #attempt(): Promise<void> {
    const { client, connected } = attemptConnection(this.#options, this.#version, {
      current: (client) => client === this.#client,
      connected: (connack) => void this.#onConnected(connack),
      closed: () => this.#onClosed(),
      error: (err) => this.#onError(err),
      disconnected: (reasonCode) => this.#outage.disconnectedBy(reasonCode),
      message: (message) => this.#onPublish(message),
    });
    this.#client = client;
    return connected;
  }

  /** Called after every (re)connect, once subscriptions and retained messages are restored. */
  onConnect(listener: () => void | Promise<void>): () => void {
    this.#connectListeners.add(listener);
    return () => this.#connectListeners.delete(listener);
  }

  onDisconnect(listener: (reason: string) => void): () => void {
    this.#disconnectListeners.add(listener);
    return () => this.#disconnectListeners.delete(listener);
  }

  /** Every publish the broker refuses (see BusOptions.refusedPublish), whatever the publish's promise does. */
  onPublishRefused(listener: (refusal: PublishRefusal) => void): () => void {
    return this.#refusals.listen(listener);
  }

  /**
   * The single consumer of incoming messages. Set it before `connect()` when the session is persistent: a
   * resumed session delivers what the broker kept at once (the worker's router keeps those until its
   * fleet is ready).
   */
  onMessage(handler: (message: IncomingMessage) => void): void {
    this.#handler = handler;
  }

  /**
   * QoS 1, and on MQTT 5 Retain As Published and No Local. Remembered and restored after every reconnect;
   * while disconnected it resolves at once. Rejects if the broker refuses a filter (ACL).
   */
  subscribe(filters: readonly string[]): Promise<void> {
    return this.#subscriptions.add(filters);
  }

  unsubscribe(filters: readonly string[]): Promise<void> {
    return this.#subscriptions.remove(filters);
  }

  /**
   * Resolves when MQTT.js has written it (QoS 0) or the broker acknowledged it (QoS 1, the default); a
   * publish the broker refuses resolves too, unless BusOptions.refusedPublish is "reject". While
   * disconnected it waits for the next connect; it rejects when `publishTimeoutMs` has passed in total, so it
   * neither hangs nor is lost silently. A QoS 1 message already handed to MQTT.js when the connection drops
   * stays in its session store and is re-sent after the reconnect even if this promise has rejected.
   */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    try {
      assertPublishable(topic);
    } catch (error) {
      return Promise.reject(error);
    }
    const deadline = Date.now() + this.#publishTimeoutMs;
    // Connected (nearly always): straight to MQTT.js, without a wait in between (a reply's path).
    if (this.connected && !this.#closed) return this.#send(topic, payload, options, deadline);
    return this.#whenConnected(topic, deadline).then(() => this.#send(topic, payload, options, deadline));
  }

  /**
   * A retained QoS 1 publish that is also remembered and republished after every connect. While
   * disconnected it resolves at once: the next connect publishes the latest value (intermediate values are
   * coalesced, which is what a state topic wants). An empty payload is a clearRetained().
   */
  async publishRetained(topic: string, payload: string): Promise<void> {
    assertPublishable(topic);
    if (payload === "") return this.clearRetained(topic);
    this.#retained.set(topic, payload);
    await this.#sendRemembered(topic, payload);
  }

  /** Publishes an empty retained payload (the broker deletes the topic) and forgets the remembered copy. */
  async clearRetained(topic: string): Promise<void> {
    assertPublishable(topic);
    this.#retained.clear(topic);
    await this.#sendRemembered(topic, "");
  }

  /**
   * Stops republishing a retained topic after reconnects, leaving what the broker holds alone: someone else
   * publishes it now (a VM that moved to another worker).
   */
  forgetRetained(topic: string): void {
    this.#retained.forget(topic);
  }

  /** Runs `work` once this batch is on the wire: a log line that must not delay a reply. */
  afterFlush(work: () => void): void {
    this.#batch.afterFlush(work);
  }

  /**
   * Clean disconnect: the broker does not send the will, so the will's payload is published here (so the
   * state topic still reads `offline`). Pending publishes are rejected.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    if (!client) return;
    const will = this.#options.will;
    if (client.connected && will) {
      const { topic, payload } = will;
      await this.#send(topic, payload, { retain: true, qos: 1 }, Date.now() + 2000).catch((err: Error) => {
        this.#log.warn({ err }, "could not publish the offline state before disconnecting");
      });
    }
    this.#pending.rejectAll("the MQTT connection was closed");
    if (!client.connected) return client.endAsync(true);
    // A graceful end() waits until every QoS 1 message is acknowledged; if the broker vanishes right now
    // that is never, and a second end() is a no-op, so the socket is destroyed after a short grace.
    if ((await within(client.endAsync(false), 2000)) === undefined) client.stream.destroy();
  }

  async #sendRemembered(topic: string, payload: string): Promise<void> {
    if (this.#closed) throw new Error(`the MQTT connection is closed; ${topic} not published`);
    if (!this.connected) return; // the next connect publishes it (also before the first connect())
    try {
      await this.#send(topic, payload, { retain: true, qos: 1 }, Date.now() + this.#publishTimeoutMs);
      if (payload === "") this.#retained.cleared(topic);
    } catch (err) {
      if (this.connected && !this.#closed) throw err;
    }
  }

  #whenConnected(topic: string, deadline: number): Promise<void> {
    if (this.#closed)
      return Promise.reject(new Error(`the MQTT connection is closed; ${topic} not published`));
    if (this.connected) return Promise.resolve();
    const ms = this.#publishTimeoutMs;
    const late = `not connected to the MQTT broker for ${ms} ms; ${topic} was not published`;
    return this.#pending.untilConnected(deadline, late);
  }

  #send(topic: string, payload: string | Buffer, options: PublishOptions, deadline: number): Promise<void> {
    const sent = clientPublishOptions(options, this.protocolVersion);
    const late = `the broker did not acknowledge ${topic} in time (connection lost?)`;
    return this.#pending.track(deadline, late, (settle) => {
      this.#batch.touch();
      this.#client!.publish(topic, payload, sent, (err) =>
        settle(this.#refusals.outcome(topic, err, options.rejectIfRefused === true)),
      );
    });
  }

  async #onConnected(connack: IConnackPacket): Promise<void> {
    const generation = ++this.#generation;
    const stale = () => generation !== this.#generation || this.#closed;
    // Nagle's algorithm would hold a reply written right after a PUBACK until the broker's delayed ACK, and
    // MQTT.js has no option for it (its stream is the TCP or TLS socket; a WebSocket stream has no such call).
    const stream = this.#client?.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
    stream?.setNoDelay?.(true);
    this.#outage.connected();
    const { sessionPresent } = connack;
    this.#log.info(
      { url: redactUrl(this.#options.url), sessionPresent, protocolVersion: this.#version },
      "connected to the MQTT broker",
    );
    this.#pending.connected();
    // Subscriptions first, so no request published right after our `online` goes unheard.
    await this.#subscriptions
      .restore(sessionPresent, stale)
      .catch((err: Error) => this.#log.error({ err }, "restoring the MQTT subscriptions failed"));
    if (stale()) return;
    const deadline = Date.now() + this.#publishTimeoutMs;
    const { clears, payloads } = this.#retained.pending();
    const republish = [
      ...clears.map((topic) => this.#sendRemembered(topic, "")),
      ...payloads.map(([topic, payload]) => this.#send(topic, payload, { retain: true, qos: 1 }, deadline)),
    ];
    for (const result of await Promise.allSettled(republish)) {
      if (result.status === "rejected")
        this.#log.warn({ err: result.reason }, "republishing a retained message failed");
    }
    for (const listener of this.#connectListeners) {
      if (stale()) return;
      try {
        await listener();
      } catch (err) {
        this.#log.error({ err }, "an MQTT connect listener failed");
      }
    }
  }

  #onClosed(): void {
    const reason = this.#outage.closed(this.#closed);
    if (reason === undefined) return; // a failed reconnect attempt; #onError logged why
    for (const listener of this.#disconnectListeners) {
      try {
        listener(reason);
      } catch (err) {
        this.#log.error({ err }, "an MQTT disconnect listener failed");
      }
    }
  }

  #onError(err: Error): void {
    // The first CONNECT refused for its version is about to be retried with 3.1.1, which the log will say.
    if (this.#generation === 0 && this.#version === 5 && refusesProtocolVersion(err)) return;
    this.#outage.error(err, this.#client?.reconnecting === true);
  }

  #onPublish(message: IncomingMessage): void {
    // MQTT.js writes this message's PUBACK right after the handler: it joins this turn's batch.
    this.#batch.touch();
    if (this.#handler) this.#deliver(message);
    else
      this.#log.warn({ topic: message.topic }, "dropped an MQTT message that came before a handler was set");
  }

  #deliver(message: IncomingMessage): void {
    try {
      this.#handler?.(message);
    } catch (err) {
      this.#log.error({ err, topic: message.topic }, "the MQTT message handler threw");
    }
  }
}
