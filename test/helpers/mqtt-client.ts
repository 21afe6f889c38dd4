import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from "mqtt";

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly correlationData?: Buffer;
}

/**
 * A plain MQTT client as a user's script or mosquitto_sub would be, recording every message so a test can
 * await the first one that matches (past or future) instead of sleeping.
 */
export class TestClient {
  readonly messages: Received[] = [];
  private readonly waiters: Array<{ match: (m: Received) => boolean; resolve: (m: Received) => void }> = [];

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      const message: Received = {
        topic,
        payload,
        retain: packet.retain,
        ...(packet.properties?.correlationData ? { correlationData: packet.properties.correlationData } : {}),
      };
      this.messages.push(message);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(message)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    });
  }

  static async connect(url: string, options: IClientOptions = {}): Promise<TestClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 200, ...options });
    return new TestClient(client);
  }

  async subscribe(filter: string | string[]): Promise<void> {
    await this.client.subscribeAsync(filter, { qos: 1 });
  }

  async publish(topic: string, payload: string | Buffer, options: IClientPublishOptions = {}): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, ...options });
  }

  /** The first message (already received or still to come) on `topic` that satisfies `match`. */
  next(topic: string, match: (m: Received) => boolean = () => true, timeoutMs = 15_000): Promise<Received> {
    const matches = (m: Received) => m.topic === topic && match(m);
    const seen = this.messages.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match: matches,
        resolve: (m: Received) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Like `next`, but only messages that arrive from now on. */
  upcoming(
    topic: string,
    match: (m: Received) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<Received> {
    const from = this.messages.length;
    return this.next(topic, (m) => this.messages.indexOf(m) >= from && match(m), timeoutMs);
  }

  /** Resolves once `count` messages matching on `topic` have arrived after message index `from`. */
  async collect(
    topic: string,
    match: (m: Received) => boolean,
    count: number,
    from = 0,
  ): Promise<Received[]> {
    const found = () => this.messages.slice(from).filter((m) => m.topic === topic && match(m));
    while (found().length < count) {
      const seen = this.messages.length;
      await this.next(topic, (m) => this.messages.indexOf(m) >= seen && match(m));
    }
    return found().slice(0, count);
  }

  json(message: Received): Record<string, unknown> {
    return JSON.parse(message.payload.toString()) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
