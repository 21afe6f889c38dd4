import type { Logger } from "pino";
import type { Reply } from "../commands/runner.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import type { Topics } from "../mqtt/topics.js";

/** Where a VM's replies go. */
export interface ReplyRoute {
  readonly bus: MqttBus;
  readonly topics: Topics;
  readonly log: Logger;
}

/**
 * A reply that cannot be serialised (a bug, or an agent's value that passed every check) or published
 * where the request asked is still answered: `internal`, on the VM's reply topic. Never the original
 * reply there: its result was meant for the response topic's readers only.
 */
export async function publishReply(
  route: ReplyRoute,
  message: IncomingMessage,
  reply: Reply,
  toResponseTopic: boolean,
): Promise<void> {
  const { bus, topics, log } = route;
  const replyTopic = topics.reply(reply.vm, reply.command);
  const correlation = message.correlationData ? { correlationData: message.correlationData } : {};
  let body: string;
  try {
    body = JSON.stringify(reply);
  } catch (error) {
    log.error({ err: error, command: reply.command }, "could not serialise a reply: answering internal");
    await bus.publish(replyTopic, internalReply(reply, "could not be serialised"), {
      qos: 1,
      ...correlation,
    });
    return;
  }
  if (!message.responseTopic || !toResponseTopic) {
    await bus.publish(replyTopic, body, { qos: 1, ...correlation });
    return;
  }
  try {
    await bus.publish(message.responseTopic, body, { qos: 1, rejectIfRefused: true, ...correlation });
  } catch (error) {
    log.warn(
      { err: error, command: reply.command },
      "could not publish a reply to the request's Response Topic: answering internal on the reply topic",
    );
    const why = "could not be published to the request's Response Topic (does the broker's ACL allow it?)";
    await bus.publish(replyTopic, internalReply(reply, why), { qos: 1, ...correlation });
  }
}

/** The `internal` reply that stands in for one that could not go out; small, and always serialisable. */
function internalReply(reply: Reply, why: string): string {
  const error = { code: "internal", message: `the reply ${why}; the worker logged the cause` };
  const { id, vm, command, ms } = reply;
  return JSON.stringify({ ...(id === undefined ? {} : { id }), vm, command, ok: false, error, ms });
}
