import mqtt, { type IClientPublishOptions, type IConnackPacket, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { redactUrl } from "../net/redact-url.js";
import { type BusOptions, clientOptions, describeConnectError } from "./bus-options.js";
import { type IncomingMessage, toIncomingMessage } from "./incoming.js";
import { FALLBACK_NOTE, NEITHER_VERSION, refusesProtocolVersion } from "./protocol-fallback.js";
import { type PublishRefusal, PublishRefusedError, refusalOf } from "./publish-refusal.js";
import { Subscriptions } from "./subscriptions.js";
import { Sweep } from "./sweep.js";
import { assertPublishable } from "./topics.js";
import { type Corkable, WriteBatch } from "./write-batch.js";

export type { BusOptions } from "./bus-options.js";
export type { IncomingMessage } from "./incoming.js";
export type { PublishRefusal } from "./publish-refusal.js";

export interface PublishOptions {
  retain?: boolean;
  /** Default 1. */
  qos?: 0 | 1;
  /** MQTT 5 only; ignored on 3.1.1. */
  correlationData?: Buffer;
  /** MQTT 5 only: where the receiver should answer (a request's Response Topic). */
  responseTopic?: string;
  messageExpirySeconds?: number;
  /** Reject this publish when the broker refuses it, whatever BusOptions.refusedPublish says. */
  rejectIfRefused?: boolean;
}

type Settle = (err?: Error) => void;

/** Messages that arrive before onMessage() is called (a resumed session delivers at once) are kept, up to this. */
const EARLY_MESSAGES_KEPT = 1000;

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
  #wasConnected = false;
  #lastProblem: string | undefined;
  readonly #subscriptions: Subscriptions;
  readonly #retained = new Map<string, string>();
  readonly #pendingClears = new Set<string>();
  readonly #connectListeners = new Set<() => void | Promise<void>>();
  readonly #disconnectListeners = new Set<(reason: string) => void>();
  readonly #refusalListeners = new Set<(refusal: PublishRefusal) => void>();
  /** Publishes waiting for a connection; every pending publish (these included), for close() to reject. */
  readonly #waiters = new Set<Settle>();
  readonly #unsettled = new Map<Settle, { readonly deadline: number; readonly late: string }>();
  /**
   * One timer for every pending publish's deadline instead of one each (a reply and an audit event per
   * request: two timers set and cleared per request at saturation), checked every quarter of the timeout
   * and at least once a second: a publish gives up at most that late.
   */
  readonly #sweep: Sweep;
  #handler: ((message: IncomingMessage) => void) | undefined;
  #early: IncomingMessage[] = [];
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
    this.#sweep = new Sweep(Math.min(1000, Math.max(10, this.#publishTimeoutMs / 4)), () => this.#expire());
    this.#version = options.protocolVersion;
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
    const client = mqtt.connect(
      this.#options.url,
      clientOptions({ ...this.#options, protocolVersion: this.#version }),
    );
    this.#client = client;
    // A client given up for another (the protocol fallback) must not touch the bus's state any more.
    const current = () => client === this.#client;
    client.on("connect", (connack) => current() && this.#onConnected(connack));
    client.on("close", () => current() && this.#onClosed());
    client.on("error", (err) => current() && this.#onError(err));
    client.on("disconnect", (packet) => {
      if (current())
        this.#lastProblem = `the broker disconnected us (reason code ${packet.reasonCode ?? "?"})`;
    });
    client.on("message", (topic, payload, packet) => {
      if (current()) this.#onPublish(toIncomingMessage(topic, payload, packet));
    });
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown) => {
        client.off("connect", onConnect).off("error", settle).off("close", onClose);
        if (err === undefined) return resolve();
        // Without end() MQTT.js would keep retrying in the background.
        client.end(true);
        reject(err);
      };
      const onConnect = () => settle();
      const onClose = () =>
        settle(new Error("the broker closed the connection without answering the CONNECT"));
      client.on("connect", onConnect).on("error", settle).on("close", onClose);
    });
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
    this.#refusalListeners.add(listener);
    return () => this.#refusalListeners.delete(listener);
  }

  /** The single consumer of incoming messages; messages that arrived before it is set are handed over now. */
  onMessage(handler: (message: IncomingMessage) => void): void {
    this.#handler = handler;
    const early = this.#early;
    this.#early = [];
    for (const message of early) this.#deliver(message);
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
    this.#pendingClears.delete(topic);
    this.#retained.set(topic, payload);
    await this.#sendRemembered(topic, payload);
  }

  /** Publishes an empty retained payload (the broker deletes the topic) and forgets the remembered copy. */
  async clearRetained(topic: string): Promise<void> {
    assertPublishable(topic);
    this.#retained.delete(topic);
    this.#pendingClears.add(topic);
    await this.#sendRemembered(topic, "");
  }

  /**
   * Stops republishing a retained topic after reconnects, leaving what the broker holds alone: someone else
   * publishes it now (a VM that moved to another worker).
   */
  forgetRetained(topic: string): void {
    this.#retained.delete(topic);
    this.#pendingClears.delete(topic);
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
    for (const settle of [...this.#unsettled.keys()]) settle(new Error("the MQTT connection was closed"));
    if (!client.connected) return client.endAsync(true);
    // A graceful end() waits until every QoS 1 message is acknowledged; if the broker vanishes right now
    // that is never, and a second end() is a no-op, so the socket is destroyed after a short grace.
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), 2000);
    });
    const ended = client.endAsync(false).then(() => false);
    if (await Promise.race([ended, graceOver])) client.stream.destroy();
    clearTimeout(timer);
  }

  async #sendRemembered(topic: string, payload: string): Promise<void> {
    if (this.#closed) throw new Error(`the MQTT connection is closed; ${topic} not published`);
    if (!this.connected) return; // the next connect publishes it (also before the first connect())
    try {
      await this.#send(topic, payload, { retain: true, qos: 1 }, Date.now() + this.#publishTimeoutMs);
      if (payload === "" && !this.#retained.has(topic)) this.#pendingClears.delete(topic);
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
    return this.#pending(deadline, late, (settle) => this.#waiters.add(settle));
  }

  #send(topic: string, payload: string | Buffer, options: PublishOptions, deadline: number): Promise<void> {
    const sent: IClientPublishOptions = { qos: options.qos ?? 1, retain: options.retain ?? false };
    if (this.protocolVersion === 5) {
      const { correlationData, responseTopic, messageExpirySeconds } = options;
      if (correlationData || responseTopic || messageExpirySeconds !== undefined) {
        const properties: NonNullable<IClientPublishOptions["properties"]> = {};
        if (correlationData) properties.correlationData = correlationData;
        if (responseTopic) properties.responseTopic = responseTopic;
        if (messageExpirySeconds !== undefined) properties.messageExpiryInterval = messageExpirySeconds;
        sent.properties = properties;
      }
    }
    const late = `the broker did not acknowledge ${topic} in time (connection lost?)`;
    return this.#pending(deadline, late, (settle) => {
      this.#batch.touch();
      this.#client!.publish(topic, payload, sent, (err) =>
        settle(this.#outcome(topic, err, options.rejectIfRefused === true)),
      );
    });
  }

  /** A publish's error as its promise sees it: a refusal is reported, and unless asked to reject is none. */
  #outcome(topic: string, err: Error | undefined, reject: boolean): Error | undefined {
    // MQTT.js passes null, not undefined, for a publish that went through.
    const refusal = err ? refusalOf(topic, err) : undefined;
    if (!refusal) return err ?? undefined;
    for (const listener of this.#refusalListeners) {
      try {
        listener(refusal);
      } catch (error) {
        this.#log.error({ err: error }, "an MQTT publish-refused listener failed");
      }
    }
    return reject || this.#options.refusedPublish === "reject" ? new PublishRefusedError(refusal) : undefined;
  }

  /** A promise that `start` settles, rejected at the deadline (with `late`) or by close(), whichever first. */
  #pending(deadline: number, late: string, start: (settle: Settle) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle: Settle = (err) => {
        if (!this.#unsettled.delete(settle)) return;
        this.#waiters.delete(settle);
        if (err) reject(err);
        else resolve();
      };
      this.#unsettled.set(settle, { deadline, late });
      this.#sweep.arm();
      start(settle);
    });
  }

  /** Rejects the publishes whose deadline has passed. */
  #expire(): boolean {
    const now = Date.now();
    for (const [settle, { deadline, late }] of this.#unsettled) {
      if (deadline <= now) settle(new Error(late));
    }
    return this.#unsettled.size > 0;
  }

  async #onConnected(connack: IConnackPacket): Promise<void> {
    const generation = ++this.#generation;
    const stale = () => generation !== this.#generation || this.#closed;
    // Nagle's algorithm holds a reply published right after a PUBACK until the broker's delayed ACK
    // (~40 ms on loopback, measured by the benchmark): a request/response service wants every write sent.
    // MQTT.js has no option for it; its stream is the TCP or TLS socket (a WebSocket stream has no such call).
    const stream = this.#client?.stream as { setNoDelay?: (noDelay: boolean) => unknown } | undefined;
    stream?.setNoDelay?.(true);
    this.#wasConnected = true;
    this.#lastProblem = undefined;
    const { sessionPresent } = connack;
    this.#log.info(
      { url: redactUrl(this.#options.url), sessionPresent, protocolVersion: this.#version },
      "connected to the MQTT broker",
    );
    for (const settle of [...this.#waiters]) settle();
    // Subscriptions first, so no request published right after our `online` goes unheard.
    await this.#subscriptions
      .restore(sessionPresent, stale)
      .catch((err: Error) => this.#log.error({ err }, "restoring the MQTT subscriptions failed"));
    if (stale()) return;
    const deadline = Date.now() + this.#publishTimeoutMs;
    const republish = [
      ...[...this.#pendingClears].map((topic) => this.#sendRemembered(topic, "")),
      ...[...this.#retained].map(([topic, payload]) =>
        this.#send(topic, payload, { retain: true, qos: 1 }, deadline),
      ),
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
    if (!this.#wasConnected) return; // a failed reconnect attempt; #onError logged why
    this.#wasConnected = false;
    const reason = this.#lastProblem ?? "the connection closed";
    if (!this.#closed) {
      this.#log.warn(
        { reason },
        `lost the MQTT broker; reconnecting every ${this.#options.reconnectPeriodMs ?? 1000} ms`,
      );
    }
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
    const text = describeConnectError(this.#options.url, err).message;
    // One warning per outage, not one per reconnect attempt every second.
    if (text !== this.#lastProblem && this.#client?.reconnecting) this.#log.warn(text);
    else this.#log.debug(text);
    this.#lastProblem = text;
  }

  #onPublish(message: IncomingMessage): void {
    // MQTT.js writes this message's PUBACK right after the handler: it joins this turn's batch.
    this.#batch.touch();
    if (this.#handler) this.#deliver(message);
    else if (this.#early.length < EARLY_MESSAGES_KEPT) this.#early.push(message);
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
