import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { pino } from "pino";
import { FleetCensus } from "../../src/census/fleet-census.js";
import { MqttBus } from "../../src/mqtt/bus.js";
import { Topics } from "../../src/mqtt/topics.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";

const skip = skipWithout("mosquitto");
let broker: Mosquitto;

before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
});

test("the census has every worker's retained info, and stops waiting once they stop coming", {
  skip,
}, async (t) => {
  const base = "census";
  const publisher = await mqtt.connectAsync(broker.url);
  for (let i = 0; i < 30; i++) {
    const info = { vms: [{ name: `vm${i}`, groups: ["web"], agent: "online" }] };
    await publisher.publishAsync(`${base}/bridge/w${i}/info`, JSON.stringify(info), { qos: 1, retain: true });
  }
  await publisher.endAsync();
  const bus = new MqttBus({
    url: broker.url,
    clientId: `census-${process.pid}`,
    protocolVersion: 5,
    keepaliveSeconds: 10,
    sessionExpirySeconds: 0,
    log: pino({ level: "silent" }),
  });
  t.after(() => bus.close());
  const census = new FleetCensus(bus, new Topics(base, "reader"));
  bus.onMessage((message) => census.offer(message));
  await bus.connect();

  const window = 20_000;
  const started = performance.now();
  await census.read(window);
  const waited = performance.now() - started;
  assert.equal(census.vms().length, 30);
  assert.equal(census.workers.length, 30);
  // Not a speed assertion: the wait ends on the retained copies' end, not on the 20 s window.
  assert.ok(waited < window / 4, `waited ${waited.toFixed(0)} ms, as if for the whole window`);
});
