import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { pino } from "pino";
import { type BusOptions, MqttBus, type PublishRefusal } from "../../src/mqtt/bus.js";
import { PublishRefusedError } from "../../src/mqtt/publish-refusal.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * The bus and a broker whose ACL refuses a topic: on MQTT 5 mosquitto answers the PUBACK with reason code
 * 135; the bus resolves the publish (or rejects with a PublishRefusedError when asked to), tells its
 * listeners, and goes on publishing the rest. On 3.1.1 the PUBACK has no reason code: mosquitto drops the
 * message and acknowledges it as if delivered.
 */
const skip = skipWithout("mosquitto", "mosquitto_passwd");
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const users = { bus: "bus-pw", reader: "reader-pw" };
const ACL = `user bus
topic readwrite allowed/#

user reader
topic read #
`;
let broker: Mosquitto;
let counter = 0;

before(async () => {
  if (!skip) broker = await startMosquitto({ users, acl: ACL });
});
after(async () => {
  await broker?.stop();
});

async function connectBus(version: 4 | 5, extra: Partial<BusOptions> = {}): Promise<MqttBus> {
  const bus = new MqttBus({
    url: broker.url,
    username: "bus",
    password: users.bus,
    clientId: `refusals-${++counter}-${process.pid}`,
    protocolVersion: version,
    keepaliveSeconds: 10,
    sessionExpirySeconds: 0,
    log,
    ...extra,
  });
  await bus.connect();
  return bus;
}

test("MQTT 5: a refused publish resolves, its listeners hear topic and reason, the next publish goes through", {
  skip,
}, async (t) => {
  const bus = await connectBus(5);
  t.after(() => bus.close());
  const reader = await mqtt.connectAsync(broker.url, { username: "reader", password: users.reader });
  t.after(() => reader.endAsync(true));
  await reader.subscribeAsync(["allowed/#", "forbidden/#"], { qos: 1 });
  const received: string[] = [];
  const delivered = new Promise<void>((resolve) =>
    reader.on("message", (topic) => {
      received.push(topic);
      if (topic === "allowed/y") resolve();
    }),
  );
  const refusals: PublishRefusal[] = [];
  bus.onPublishRefused((refusal) => refusals.push(refusal));

  await bus.publish("forbidden/x", "no");
  await bus.publishRetained("forbidden/retained", "no");
  assert.deepEqual(refusals, [
    { topic: "forbidden/x", reasonCode: 135, reason: "Not authorized" },
    { topic: "forbidden/retained", reasonCode: 135, reason: "Not authorized" },
  ]);
  await bus.publish("allowed/y", "yes");
  await delivered;
  // The broker forwards one client's messages in order: a refused one would have come first.
  assert.deepEqual(received, ["allowed/y"]);
});

test("MQTT 5, refusedPublish: reject: the publish rejects with a PublishRefusedError", {
  skip,
}, async (t) => {
  const bus = await connectBus(5, { refusedPublish: "reject" });
  t.after(() => bus.close());
  let heard = 0;
  bus.onPublishRefused(() => heard++);
  await assert.rejects(bus.publish("forbidden/x", "no"), (error: unknown) => {
    assert.ok(error instanceof PublishRefusedError);
    assert.equal(error.refusal.reasonCode, 135);
    assert.match(error.message, /forbidden\/x \(Not authorized, reason code 135\)/);
    return true;
  });
  assert.equal(heard, 1);
  await bus.publish("allowed/y", "yes");
});

test("MQTT 3.1.1: mosquitto acknowledges a refused publish like any other: nothing to report", {
  skip,
}, async (t) => {
  const bus = await connectBus(4, { refusedPublish: "reject" });
  t.after(() => bus.close());
  let heard = 0;
  bus.onPublishRefused(() => heard++);
  await bus.publish("forbidden/x", "no");
  assert.equal(heard, 0);
});
