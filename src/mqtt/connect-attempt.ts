import mqtt, { type IConnackPacket, type MqttClient } from "mqtt";
import { type BusOptions, clientOptions } from "./bus-options.js";
import { type IncomingMessage, toIncomingMessage } from "./incoming.js";

/** What a bus hears from a client, only while `current` says the client is still the bus's own. */
export interface ClientEvents {
  /** False for a client given up for another (the protocol fallback): it must not touch the bus's state. */
  current(client: MqttClient): boolean;
  connected(connack: IConnackPacket): void;
  closed(): void;
  error(err: Error): void;
  /** The broker sent a DISCONNECT (MQTT 5), with its reason code if any. */
  disconnected(reasonCode: number | undefined): void;
  message(message: IncomingMessage): void;
}

/**
 * One connection attempt with `protocolVersion`: the client, wired to `events`, and its first outcome, which
 * resolves on the CONNACK or rejects with MQTT.js's own error (the client then ended).
 */
export function attemptConnection(
  options: BusOptions,
  protocolVersion: 4 | 5,
  events: ClientEvents,
): { readonly client: MqttClient; readonly connected: Promise<void> } {
  const client = mqtt.connect(options.url, clientOptions({ ...options, protocolVersion }));
  const current = () => events.current(client);
  client.on("connect", (connack) => current() && events.connected(connack));
  client.on("close", () => current() && events.closed());
  client.on("error", (err) => current() && events.error(err));
  client.on("disconnect", (packet) => current() && events.disconnected(packet.reasonCode));
  client.on("message", (topic, payload, packet) => {
    if (current()) events.message(toIncomingMessage(topic, payload, packet));
  });
  const connected = new Promise<void>((resolve, reject) => {
    const settle = (err?: unknown) => {
      client.off("connect", onConnect).off("error", settle).off("close", onClose);
      if (err === undefined) return resolve();
      // Without end() MQTT.js would keep retrying in the background.
      client.end(true);
      reject(err);
    };
    const onConnect = () => settle();
    const onClose = () => settle(new Error("the broker closed the connection without answering the CONNECT"));
    client.on("connect", onConnect).on("error", settle).on("close", onClose);
  });
  return { client, connected };
}
