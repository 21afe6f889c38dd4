/**
 * When a broker says it does not speak MQTT 5, a bus that asked for 5 connects again with MQTT 3.1.1 by
 * itself: MQTT 5 is only the default, and the brokers that refuse it (the embedded aedes, NATS, older
 * appliances) are exactly the ones a new user meets first. Everything that differs between the versions
 * (Response Topic, Retain As Published, user properties) then follows the version actually in use
 * (MqttBus.protocolVersion), never the configured one.
 */

/**
 * The CONNACK codes that mean "not this protocol version": 3.1.1's return code 1 ("unacceptable protocol
 * version", what a 3.1.1-only broker answers a version 5 CONNECT with) and MQTT 5's reason code 132
 * (0x84, "unsupported protocol version").
 */
const PROTOCOL_REFUSALS: ReadonlySet<number> = new Set([1, 132]);

/** Whether a failed connect attempt was the broker refusing the protocol version (and nothing else). */
export function refusesProtocolVersion(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "number" && PROTOCOL_REFUSALS.has(code);
}

/** What the fallback costs, for the log line that reports it. */
export const FALLBACK_NOTE =
  "the broker refused MQTT 5; connecting with MQTT 3.1.1 instead (no Response Topic: replies are matched by id; no Retain As Published, message expiry or user properties); set mqtt.protocolVersion: 4 to skip the first attempt";

/** The reason of a connect that failed with both versions. */
export const NEITHER_VERSION = "the broker accepts neither MQTT 5 nor MQTT 3.1.1";
