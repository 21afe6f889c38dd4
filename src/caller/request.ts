import { randomBytes } from "node:crypto";
import type { IncomingMessage, PublishOptions } from "../mqtt/bus.js";
import { CallReply } from "./call-reply.js";
import type { CallerConnection } from "./connect.js";
import { type CallTarget, commandTopic } from "./target.js";

export { CallReply };

/** One request ready to publish, and how its replies are told apart from everything else. */
export interface OutgoingRequest {
  readonly id: string;
  /** Where the request goes. */
  readonly topic: string;
  readonly payload: string;
  readonly options: PublishOptions;
  /** The filter the replies come on: subscribe to it before publishing. */
  readonly replyFilter: string;
  /** Whether `message` came on the reply filter (a reply, this request's or another's: never shown as data). */
  onReplyTopic(message: IncomingMessage): boolean;
  /** The reply to this request that `message` is, if it is one. */
  replyIn(message: IncomingMessage): CallReply | undefined;
}

/**
 * Builds a request for the protocol version the connection actually uses (it may have fallen back to
 * 3.1.1 at connect). MQTT 5: the replies come to this client's own response topic with the request's
 * correlation data. MQTT 3.1.1: they come on the VMs' reply topics, matched by the request id.
 */
export function outgoingRequest(
  connection: CallerConnection,
  target: CallTarget,
  command: string,
  timeoutSeconds: number,
  args?: Record<string, unknown>,
): OutgoingRequest {
  const { bus, topics } = connection;
  const id = `${connection.id}-${randomBytes(4).toString("hex")}`;
  const v5 = bus.protocolVersion === 5;
  const replyFilter = v5 ? topics.callerReplies() : topics.everyReply(command);
  const correlation = Buffer.from(id);
  const onReplyTopic = (message: IncomingMessage): boolean =>
    v5 ? message.topic === replyFilter : topics.isReply(message.topic, command);
  return {
    id,
    topic: commandTopic(topics, target, command),
    payload: JSON.stringify({ id, ...(args ? { args } : {}), timeout: timeoutSeconds }),
    options: { qos: 1, ...(v5 ? { responseTopic: replyFilter, correlationData: correlation } : {}) },
    replyFilter,
    onReplyTopic,
    replyIn(message) {
      if (!onReplyTopic(message)) return undefined;
      if (v5 && !message.correlationData?.equals(correlation)) return undefined;
      const reply = parseReply(message.payload);
      return reply?.id === id ? reply : undefined;
    },
  };
}

function parseReply(payload: Buffer): CallReply | undefined {
  try {
    const reply = CallReply.safeParse(JSON.parse(payload.toString("utf8")));
    return reply.success ? reply.data : undefined;
  } catch {
    return undefined;
  }
}
