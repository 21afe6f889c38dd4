import type { IClientPublishOptions } from "mqtt";

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

/** What MQTT.js is handed for a publish: the MQTT 5 properties only where the connection speaks 5. */
export function clientPublishOptions(options: PublishOptions, protocolVersion: 4 | 5): IClientPublishOptions {
  const sent: IClientPublishOptions = { qos: options.qos ?? 1, retain: options.retain ?? false };
  if (protocolVersion !== 5) return sent;
  const { correlationData, responseTopic, messageExpirySeconds } = options;
  if (correlationData || responseTopic || messageExpirySeconds !== undefined) {
    const properties: NonNullable<IClientPublishOptions["properties"]> = {};
    if (correlationData) properties.correlationData = correlationData;
    if (responseTopic) properties.responseTopic = responseTopic;
    if (messageExpirySeconds !== undefined) properties.messageExpiryInterval = messageExpirySeconds;
    sent.properties = properties;
  }
  return sent;
}
