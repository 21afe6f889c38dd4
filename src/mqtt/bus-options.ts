import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { IClientOptions } from "mqtt";
import type { Logger } from "pino";
import { redactUrl } from "../net/redact-url.js";

/** How to reach the broker and what the broker should know about this worker. */
export interface BusOptions {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the broker. */
  url: string;
  username?: string;
  password?: string;
  /** Fixed client id: a persistent session is found again by it. */
  clientId: string;
  /** 5 = MQTT 5, 4 = MQTT 3.1.1. */
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  /**
   * How long the broker keeps the session (subscriptions and queued QoS 1 requests) while the worker is
   * away, so requests published during a reconnect are delivered after it. 0 = a clean session.
   */
  sessionExpirySeconds: number;
  /** File paths for ca/cert/key; read once, when the options are built. */
  tls?: { ca?: string; cert?: string; key?: string; keyPassphrase?: string; rejectUnauthorized: boolean };
  /** The last will: published retained with QoS 1 by the broker when the worker vanishes. None for a client. */
  will?: { topic: string; payload: string };
  /** Pause between reconnect attempts; default 1000. */
  reconnectPeriodMs?: number;
  /**
   * Upper bound for one publish: waiting for a connection plus waiting for the PUBACK. Default 30000.
   * A publish never hangs longer than this, whatever the broker does.
   */
  publishTimeoutMs?: number;
  /** How long the first connect may take before connect() gives up; default 10000. */
  connectTimeoutMs?: number;
  /**
   * What a publish the broker refuses does (MQTT 5: a PUBACK reason code of 0x80 or more, e.g. 135 when its
   * ACL forbids the topic; a 3.1.1 broker cannot say so). Either way the onPublishRefused listeners hear of it.
   * - "report" (the default, the worker): the publish resolves. The broker has answered and sending it again
   *   gets the same answer; a topic one feature lacks the rights for must not stop the others.
   * - "reject": it rejects with a PublishRefusedError, for a one-shot client whose user must learn it at once.
   */
  refusedPublish?: "report" | "reject";
  log: Logger;
}

/** Reads a TLS file with an error that names the setting and the path, not just ENOENT. */
function readTlsFile(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the MQTT TLS ${what} file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** MQTT.js hands every option to tls.connect(), the key passphrase too, but does not declare it. */
type ClientOptions = IClientOptions & Pick<ConnectionOptions, "passphrase">;

/** BusOptions → MQTT.js options. Reconnection and resubscription are left to MqttBus, see there. */
export function clientOptions(options: BusOptions): ClientOptions {
  const clean = options.sessionExpirySeconds === 0;
  const result: ClientOptions = {
    clientId: options.clientId,
    protocolVersion: options.protocolVersion,
    keepalive: options.keepaliveSeconds,
    clean,
    reconnectPeriod: options.reconnectPeriodMs ?? 1000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // A refused CONNACK after the first success (password rotated, broker restarting with its ACLs not yet
    // loaded) must not stop the worker for good: keep trying, the log says why.
    reconnectOnConnackError: true,
    // MqttBus re-subscribes itself, so that it can also send the UNSUBSCRIBEs missed while offline.
    resubscribe: false,
    // QoS 0 publishes are only made while connected (MqttBus waits for the connection itself).
    queueQoSZero: false,
    // MQTT.js by default clears and re-arms its keepalive timer on every packet it sends (measured: ~2% of
    // the worker's CPU at saturation); a PINGREQ every keepalive period, traffic or not, costs nothing.
    reschedulePings: false,
  };
  // MQTT.js calls its `debug` logger a dozen times per packet, formatting arguments even when disabled
  // (measured: ~2% of the worker's CPU at saturation). Left in place when DEBUG asks for it.
  if (!/mqttjs|\*/.test(process.env.DEBUG ?? "")) result.log = () => {};
  if (options.will) {
    result.will = {
      topic: options.will.topic,
      payload: Buffer.from(options.will.payload),
      qos: 1,
      retain: true,
    };
  }
  if (options.username !== undefined) result.username = options.username;
  if (options.password !== undefined) result.password = options.password;
  if (options.protocolVersion === 5 && !clean) {
    result.properties = { sessionExpiryInterval: options.sessionExpirySeconds };
  }
  const tls = options.tls;
  if (tls) {
    if (tls.ca) result.ca = readTlsFile("CA", tls.ca);
    if (tls.cert) result.cert = readTlsFile("certificate", tls.cert);
    if (tls.key) result.key = readTlsFile("key", tls.key);
    if (tls.keyPassphrase !== undefined) result.passphrase = tls.keyPassphrase;
    result.rejectUnauthorized = tls.rejectUnauthorized;
  }
  return result;
}

/** Reason codes of a refused CONNACK (3.1.1 return codes 1-5 and the MQTT 5 ones) in words. */
const REFUSALS: Record<number, string> = {
  // A first connect refused with MQTT 5 is retried with 3.1.1 (protocol-fallback.ts): this is a refusal of
  // 3.1.1 itself, or of MQTT 5 on a reconnect to a broker replaced since.
  1: "the broker does not accept this MQTT protocol version (mqtt.protocolVersion: 5 is MQTT 5, 4 is MQTT 3.1.1)",
  2: "the broker rejected the client id (mqtt.clientId)",
  3: "the broker is unavailable",
  4: "the broker refused the user name or password (mqtt.username / mqtt.password)",
  // Mosquitto answers a wrong password with this code too, hence the password in the hint.
  5: "the broker says this client is not authorized (check mqtt.username / mqtt.password and the broker's ACL)",
  132: "the broker does not accept MQTT 5 (try mqtt.protocolVersion: 4)",
  133: "the broker rejected the client id (mqtt.clientId)",
  134: "the broker refused the user name or password (mqtt.username / mqtt.password)",
  135: "the broker says this client is not authorized (check mqtt.username / mqtt.password and the broker's ACL)",
  136: "the broker is unavailable",
  137: "the broker is busy",
  138: "the broker has banned this client",
  140: "the broker does not accept this authentication method",
};

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "nothing accepts connections there (connection refused): is the broker running?",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name could not be resolved (DNS unavailable)",
  ETIMEDOUT: "the connection timed out",
  EHOSTUNREACH: "the host is unreachable",
  ECONNRESET: "the connection was reset (a TLS port reached with mqtt://, or the reverse?)",
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the broker's TLS certificate is self-signed and not trusted (set mqtt.tls.ca)",
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's TLS certificate chain is not trusted (set mqtt.tls.ca)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's TLS certificate is not trusted (set mqtt.tls.ca)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's TLS certificate does not name the host of mqtt.url",
  CERT_HAS_EXPIRED: "the broker's TLS certificate has expired",
};

/**
 * A connect failure as one sentence a person can act on: which URL, and what the broker or the network
 * said, in words, with the setting to look at. The original error stays as `cause`.
 */
export function describeConnectError(url: string, err: unknown): Error {
  const where = `cannot connect to the MQTT broker at ${redactUrl(url)}`;
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  let reason: string | undefined;
  if (typeof code === "number") reason = REFUSALS[code];
  else if (typeof code === "string") reason = SOCKET_ERRORS[code];
  if (!reason && /connack timeout/i.test(message))
    reason = "the broker did not answer the MQTT CONNECT in time";
  const alert = /alert (certificate required|handshake failure|bad certificate|unknown ca)/i.exec(message);
  if (!reason && alert) {
    // Only the alert's name: the rest of OpenSSL's message is source file names and numbers.
    reason = `the broker refused the TLS handshake (${alert[0]}); does it require a client certificate (mqtt.tls.cert / mqtt.tls.key)?`;
  }
  return new Error(`${where}: ${reason ?? message}`, { cause: err });
}
