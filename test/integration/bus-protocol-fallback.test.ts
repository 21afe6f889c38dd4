import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { MqttBus } from "../../src/mqtt/bus.js";
import { type ResolvedBroker, resolveBroker } from "../../src/mqtt/local-broker.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";

/**
 * A bus asked for MQTT 5 against a broker that speaks only 3.1.1 (the embedded aedes, started as the worker
 * starts it) connects with 3.1.1 by itself, and says so at debug level.
 */
const skip = skipWithout("mosquitto");
const HOST = "127.0.0.1";
let aedes: ResolvedBroker;
let mosquitto: Mosquitto | undefined;

before(async () => {
  const server = net.createServer().listen(0, HOST);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  aedes = await resolveBroker(undefined, pino({ level: "silent" }), { probe: { host: HOST, port } });
  if (!skip) mosquitto = await startMosquitto();
});
after(async () => {
  await aedes?.embedded?.close();
  await mosquitto?.stop();
});

/** A debug-level logger whose lines the test reads. */
function capturingLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: "debug" }, sink), lines };
}

function bus(url: string, log: pino.Logger, id: string): MqttBus {
  return new MqttBus({
    url,
    clientId: id,
    protocolVersion: 5,
    keepaliveSeconds: 10,
    sessionExpirySeconds: 0,
    reconnectPeriodMs: 200,
    log,
  });
}

test("asked for MQTT 5, a 3.1.1-only broker is used with 3.1.1, and the debug log says so", async (t) => {
  const { log, lines } = capturingLog();
  const client = bus(aedes.url, log, "fallback-test");
  t.after(() => client.close());
  await client.connect();
  assert.equal(client.protocolVersion, 4);
  const said = lines.find((line) => /MQTT 3\.1\.1/.test(String(line.msg)));
  assert.ok(said, `no log line about the fallback in ${JSON.stringify(lines)}`);
  assert.equal(said.level, 20, "the fallback is logged at debug level");

  // And it is a working connection: its own subscription gets its own publish back.
  const incoming = withTimeout(
    new Promise<string>((resolve) => client.onMessage((m) => resolve(m.payload.toString()))),
    5000,
    "the fallen-back connection carried nothing",
  );
  await client.subscribe(["fallback/echo"]);
  await client.publish("fallback/echo", "over 3.1.1");
  assert.equal(await incoming, "over 3.1.1");
});

test("a broker that speaks MQTT 5 keeps MQTT 5", { skip }, async (t) => {
  const { log, lines } = capturingLog();
  const client = bus(mosquitto!.url, log, "no-fallback-test");
  t.after(() => client.close());
  await client.connect();
  assert.equal(client.protocolVersion, 5);
  assert.equal(
    lines.find((line) => /MQTT 3\.1\.1/.test(String(line.msg))),
    undefined,
  );
});
