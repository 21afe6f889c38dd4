import type { IPublishPacket } from "mqtt";

/** A received PUBLISH as the bus hands it on: the MQTT.js packet reduced to what the worker reads. */
export interface IncomingMessage {
  readonly topic: string;
  readonly payload: Buffer;
  /** MQTT 5: the publisher's retain flag (Retain As Published); 3.1.1: true only for the broker's stored copy. */
  readonly retain: boolean;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties?: Record<string, string | string[]>;
  readonly messageExpirySeconds?: number;
  /** The DUP flag: a QoS 1 redelivery. */
  readonly duplicate: boolean;
}

export function toIncomingMessage(topic: string, payload: Buffer, packet: IPublishPacket): IncomingMessage {
  const properties = packet.properties;
  return {
    topic,
    payload,
    retain: packet.retain,
    duplicate: packet.dup,
    responseTopic: properties?.responseTopic,
    correlationData: properties?.correlationData,
    userProperties: properties?.userProperties,
    messageExpirySeconds: properties?.messageExpiryInterval,
  };
}
