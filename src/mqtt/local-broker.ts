import net from "node:net";
import type { Logger } from "pino";
import { redactUrl } from "../net/redact-url.js";

/**
 * Zero-config start: without `mqtt.url` the worker uses the broker of this host if one answers on
 * 127.0.0.1:1883, else it runs a small embedded broker there, so `qga-mqtt run` works on a bare hypervisor
 * and a person can watch it with mosquitto_sub at once.
 */

export interface ResolvedBroker {
  url: string;
  /** Set when the broker only speaks MQTT 3.1.1 (the embedded aedes): it overrides mqtt.protocolVersion. */
  protocolVersion?: 4;
  /** The embedded broker, to be closed after the bus. */
  embedded?: { close(): Promise<void> };
  /** The first log line: which broker, and how to watch it. */
  description: string;
}

export interface ResolveBrokerOptions {
  /** Where to look for (and start) a local broker; 127.0.0.1:1883 unless a test needs another. */
  probe?: { host: string; port: number };
  probeTimeoutMs?: number;
  /** Only used in the mosquitto_sub hint. */
  baseTopic?: string;
}

type ProbeResult = "mqtt" | "nothing" | "not-mqtt";

/**
 * MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 10 s, client id "qga-mqtt-probe".
 * Hand-built (28 bytes) so the probe depends on nothing and cannot be confused by a client library's retries.
 */
const CLIENT_ID = "qga-mqtt-probe";
const CONNECT = Buffer.from([
  0x10,
  10 + 2 + CLIENT_ID.length, // remaining length: variable header (10) + client id (2 + n)
  ...[0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a],
  ...[0x00, CLIENT_ID.length],
  ...Buffer.from(CLIENT_ID),
]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** Is an MQTT broker there? Any CONNACK counts, even a refusal: the port is a broker's, not ours to take. */
function probe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const done = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners("data");
      if (result === "mqtt") socket.end(DISCONNECT);
      else socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(socket.connecting ? "nothing" : "not-mqtt"), timeoutMs);
    socket.on("connect", () => socket.write(CONNECT));
    // The first byte of a CONNACK is 0x20; anything else is another protocol.
    socket.once("data", (data: Buffer) => done(data[0] === 0x20 ? "mqtt" : "not-mqtt"));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      done(err.code === "ECONNREFUSED" || socket.connecting ? "nothing" : "not-mqtt");
    });
    socket.on("close", () => done("not-mqtt"));
  });
}

function watchHint(url: string, baseTopic: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "";
  }
  if (parsed.protocol !== "mqtt:" && parsed.protocol !== "mqtts:") return "";
  const tls = parsed.protocol === "mqtts:";
  const port = parsed.port || (tls ? "8883" : "1883");
  const user = parsed.username ? ` -u ${decodeURIComponent(parsed.username)} -P '<password>'` : "";
  const ca = tls ? " --cafile <ca.pem>" : "";
  return `; watch it with: mosquitto_sub -h ${parsed.hostname} -p ${port}${user}${ca} -t '${baseTopic}/#' -v`;
}

async function startEmbedded(host: string, port: number, log: Logger): Promise<{ close(): Promise<void> }> {
  // Loaded only when needed: most installations have a broker of their own.
  const { Aedes } = await import("aedes");
  const broker = await Aedes.createBroker();
  broker.on("clientError", (client, err) =>
    log.debug({ err, client: client.id }, "embedded broker: client error"),
  );
  const server = net.createServer(broker.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw new Error(`cannot start the embedded MQTT broker on ${host}:${port}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  server.on("error", (err) => log.error({ err }, "embedded MQTT broker: server error"));
  return {
    async close() {
      // The broker first: it closes its clients' sockets, without which server.close() would wait for them.
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A configured URL is used as is. Without one: a broker answering an MQTT CONNECT on the probe address is
 * used; if nothing listens there, an embedded aedes broker (MQTT 3.1.1 only, in memory) is started on it.
 * Something else listening there is an error: the worker cannot take the port and would mislead by guessing.
 */
export async function resolveBroker(
  url: string | undefined,
  log: Logger,
  options: ResolveBrokerOptions = {},
): Promise<ResolvedBroker> {
  const baseTopic = options.baseTopic ?? "qga";
  if (url) {
    return { url, description: `MQTT broker ${redactUrl(url)} (mqtt.url)${watchHint(url, baseTopic)}` };
  }
  const { host, port } = options.probe ?? { host: "127.0.0.1", port: 1883 };
  const local = `mqtt://${host}:${port}`;
  const found = await probe(host, port, options.probeTimeoutMs ?? 1500);
  log.debug({ host, port, found }, "probed for a local MQTT broker");
  if (found === "mqtt") {
    return {
      url: local,
      description: `MQTT broker ${local}: the one running on this host (mqtt.url is not set)${watchHint(local, baseTopic)}`,
    };
  }
  if (found === "not-mqtt") {
    throw new Error(
      `mqtt.url is not set and ${host}:${port} is taken by something that does not answer MQTT; set mqtt.url to your broker`,
    );
  }
  const embedded = await startEmbedded(host, port, log);
  return {
    url: local,
    protocolVersion: 4,
    embedded,
    description:
      `MQTT broker ${local}: an embedded broker started by qga-mqtt because mqtt.url is not set and none ` +
      `answered there (MQTT 3.1.1, in memory: retained messages are lost when the worker stops; ` +
      `set mqtt.url for a real broker)${watchHint(local, baseTopic)}`,
  };
}
