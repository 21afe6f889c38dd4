import type { MqttClient } from "mqtt";
import type { Topics } from "../../src/mqtt/topics.js";
import { CallReply, parseJson } from "./schemas.js";

export type Target = { readonly vm: string } | { readonly group: string };

/** What one request came to: its replies as they arrive, or the broker's refusal of the publish. */
export interface RequestHandle {
  readonly id: string;
  /** Resolves when the broker took the publish; rejects with a RefusedError or a transport error. */
  readonly sent: Promise<void>;
}

/** The broker received a publish and refused it (MQTT 5 PUBACK reason code ≥ 0x80, e.g. 135). */
export class RefusedError extends Error {
  constructor(
    readonly reasonCode: number,
    reason: string,
  ) {
    super(`the broker refused: ${reason}`);
    this.name = "RefusedError";
  }
}

const textEncoder = new TextEncoder();

/**
 * Sends requests as `qga-mqtt call` does (src/caller/request.ts). MQTT 5: QoS 1, the Response Topic
 * `<base>/bridge/<caller>/replies`, correlation data and an id; replies are matched on both. MQTT 3.1.1 (a
 * broker that refused 5): the replies come on the VMs' reply topics and are matched by id.
 */
export class Requester {
  private readonly pending = new Map<string, (reply: CallReply) => void>();
  private counter = 0;
  private client: MqttClient | undefined;
  private version: 4 | 5 = 5;

  constructor(private readonly topics: Topics) {}

  /** The client requests go through (a new one after a fallback to 3.1.1). */
  attach(client: MqttClient, version: 4 | 5): void {
    this.client = client;
    this.version = version;
  }

  /** What to subscribe to for the replies. */
  replyFilter(): string {
    return this.version === 5 ? this.topics.callerReplies() : `${this.topics.base}/+/reply/+`;
  }

  send(
    target: Target,
    command: string,
    args: Record<string, unknown> | undefined,
    timeoutSeconds: number,
    onReply: (reply: CallReply) => void,
  ): RequestHandle {
    const id = `${this.topics.worker}-${++this.counter}`;
    const topic =
      "vm" in target
        ? this.topics.command(target.vm, command)
        : this.topics.groupCommand(target.group, command);
    const payload = JSON.stringify({ id, ...(args ? { args } : {}), timeout: timeoutSeconds });
    this.pending.set(id, onReply);
    const properties = {
      responseTopic: this.topics.callerReplies(),
      // MQTT.js types it as a Node Buffer; its browser build writes any Uint8Array.
      correlationData: textEncoder.encode(id) as never,
    };
    const client = this.client;
    const published = client
      ? client.publishAsync(topic, payload, { qos: 1, ...(this.version === 5 ? { properties } : {}) })
      : Promise.reject(new Error("not connected"));
    const sent = published.then(
      () => undefined,
      (error: unknown) => {
        this.pending.delete(id);
        throw refusalOf(error) ?? error;
      },
    );
    return { id, sent };
  }

  /** Stops listening for the replies of `id` (the page gave up waiting). */
  forget(id: string): void {
    this.pending.delete(id);
  }

  /** Takes a message if it is a reply to one of this page's requests. */
  receive(topic: string, text: string, correlation: Uint8Array | undefined): boolean {
    if (!this.isReplyTopic(topic)) return false;
    const reply = parseJson(CallReply, text);
    const id = reply?.id;
    if (!reply || id === undefined) return true;
    if (correlation && new TextDecoder().decode(correlation) !== id) return true;
    this.pending.get(id)?.(reply);
    return true;
  }

  private isReplyTopic(topic: string): boolean {
    if (this.version === 5) return topic === this.topics.callerReplies();
    const levels = topic.slice(this.topics.base.length + 1).split("/");
    return topic.startsWith(`${this.topics.base}/`) && levels.length === 3 && levels[1] === "reply";
  }
}

/** The refusal an MQTT.js publish error stands for (it carries the PUBACK's reason code), if it is one. */
export function refusalOf(error: unknown): RefusedError | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== "number" || code < 0x80 || code > 0xff) return undefined;
  const reason = typeof message === "string" ? message.replace(/^Publish error: /, "") : "";
  return new RefusedError(code, (reason || `reason code ${code}`).toLowerCase());
}
