import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { pino } from "pino";
import { MqttBus } from "../../src/mqtt/bus.js";
import { resolveBroker } from "../../src/mqtt/local-broker.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";

// The machine may run its own broker on 1883, so every probe here points at a port of the test's own.
const skip = skipWithout("mosquitto");
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const HOST = "127.0.0.1";
let broker: Mosquitto;

before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
});

/** A loopback port nothing listens on (the kernel's pick, released at once). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, HOST);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test("a configured URL is used as is, its password kept out of the description", async () => {
  const configured = await resolveBroker("mqtt://u:pw@broker.example:1884", log);
  assert.equal(configured.url, "mqtt://u:pw@broker.example:1884");
  assert.equal(configured.embedded, undefined);
  assert.doesNotMatch(configured.description, /pw/);
  assert.match(configured.description, /mosquitto_sub -h broker\.example -p 1884 -u u -P '<password>'/);
});

test("a broker answering the MQTT probe is used", { skip }, async () => {
  const found = await resolveBroker(undefined, log, { probe: { host: HOST, port: broker.port } });
  assert.equal(found.url, broker.url);
  assert.equal(found.embedded, undefined);
  assert.equal(found.protocolVersion, undefined);
  assert.match(found.description, /the one running on this host/);
});

test("with nothing listening, an embedded broker starts and carries messages", async (t) => {
  const port = await freePort();
  const started = await resolveBroker(undefined, log, { probe: { host: HOST, port }, baseTopic: "lab" });
  t.after(() => started.embedded?.close());
  assert.equal(started.url, `mqtt://${HOST}:${port}`);
  assert.equal(started.protocolVersion, 4);
  assert.match(started.description, /embedded broker.*mosquitto_sub -h 127\.0\.0\.1 -p \d+ -t 'lab\/#' -v/);
  const bus = new MqttBus({
    url: started.url,
    clientId: "local-broker-test",
    protocolVersion: 4,
    keepaliveSeconds: 10,
    sessionExpirySeconds: 300,
    will: { topic: "lab/bridge/w/state", payload: "offline" },
    log,
  });
  t.after(() => bus.close());
  await bus.connect();
  await bus.subscribe(["lab/cmd/+"]);
  const incoming = withTimeout(
    new Promise<string>((resolve) => bus.onMessage((m) => resolve(m.payload.toString()))),
    5000,
    "nothing arrived through the embedded broker",
  );
  const client = await mqtt.connectAsync(started.url, { protocolVersion: 4, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  await client.publishAsync("lab/cmd/ping", "via aedes", { qos: 1 });
  assert.equal(await incoming, "via aedes");
});

test("a port taken by something that is not MQTT is an error, not a guess", async (t) => {
  // Reads and never answers; resume() so it sees the probe hang up and close() can finish.
  const silent = net.createServer((socket) => socket.resume()).listen(0, HOST);
  await once(silent, "listening");
  t.after(() => new Promise((resolve) => silent.close(resolve)));
  const { port } = silent.address() as net.AddressInfo;
  await assert.rejects(
    resolveBroker(undefined, log, { probe: { host: HOST, port }, probeTimeoutMs: 300 }),
    /taken by something that does not answer MQTT; set mqtt\.url/,
  );
});
