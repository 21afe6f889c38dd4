import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { MqttBus } from "../mqtt/bus.js";
import { Topics } from "../mqtt/topics.js";

export interface CallerConnection {
  readonly bus: MqttBus;
  readonly topics: Topics;
  /** This client's own id: its reply topic and request ids are made from it. */
  readonly id: string;
  /** The broker's URL (with its password, if any: redact it before showing it). */
  readonly url: string;
}

/**
 * A short-lived client of the fleet (call, list, watch) with the broker settings of the configuration: a
 * clean session, no last will, a client id of its own. MQTT 5 unless configured otherwise or the broker
 * refuses it (then 3.1.1: see mqtt/protocol-fallback.ts; `bus.protocolVersion` says which is in use).
 */
export async function connectCaller(config: Config, log: Logger): Promise<CallerConnection> {
  const id = `qga-mqtt-call-${randomBytes(6).toString("hex")}`;
  const { mqtt } = config;
  const url = mqtt.url ?? "mqtt://127.0.0.1:1883";
  const bus = new MqttBus({
    url,
    ...(mqtt.username !== undefined ? { username: mqtt.username } : {}),
    ...(mqtt.password !== undefined ? { password: mqtt.password } : {}),
    clientId: id,
    protocolVersion: mqtt.protocolVersion,
    keepaliveSeconds: mqtt.keepaliveSeconds,
    sessionExpirySeconds: 0,
    tls: mqtt.tls,
    reconnectPeriodMs: 500,
    // A request the broker refuses is reported at once: waiting for replies that cannot come would only
    // end in "no reply" after the timeout, without the reason.
    refusedPublish: "reject",
    log,
  });
  await bus.connect();
  // The worker id level of the topics is unused by a caller; the caller's id keeps it well-formed.
  return { bus, topics: new Topics(mqtt.baseTopic, id), id, url };
}
