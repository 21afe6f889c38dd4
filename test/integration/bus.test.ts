import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { after, before, test } from "node:test";
import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { pino } from "pino";
import { type BusOptions, type IncomingMessage, MqttBus } from "../../src/mqtt/bus.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";

const skip = skipWithout("mosquitto", "mosquitto_passwd", "openssl");
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const VERSIONS = [4, 5] as const;
const WAIT = 5000;
let broker: Mosquitto;
let counter = 0;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  if (!skip) broker = await startMosquitto();
});
after(async () => {
  await broker?.stop();
});

/** Runs the registered cleanups of one test, newest first. */
async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
}

function makeBus(url: string, version: 4 | 5, extra: Partial<BusOptions> = {}): MqttBus {
  const id = `t${++counter}`;
  const bus = new MqttBus({
    url,
    clientId: `bus-${id}-${process.pid}`,
    protocolVersion: version,
    keepaliveSeconds: 10,
    sessionExpirySeconds: 300,
    will: { topic: `${id}/state`, payload: "offline" },
    reconnectPeriodMs: 100,
    log,
    ...extra,
  });
  cleanups.push(() => bus.close());
  return bus;
}

async function observer(url: string, version: 4 | 5, topics: string[] = []): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: version, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  if (topics.length > 0) await client.subscribeAsync(topics, { qos: 1 });
  return client;
}

/** The next message on `topic` (with this payload, if given) that `client` receives. */
function nextMessage(client: MqttClient, topic: string, payload?: string): Promise<IPublishPacket> {
  return withTimeout(
    new Promise((resolve) => {
      const listener = (t: string, p: Buffer, packet: IPublishPacket) => {
        if (t !== topic || (payload !== undefined && p.toString() !== payload)) return;
        client.off("message", listener);
        resolve(packet);
      };
      client.on("message", listener);
    }),
    WAIT,
    `no message ${payload ?? ""} on ${topic}`,
  );
}

function nextIncoming(bus: MqttBus, topic: string): Promise<IncomingMessage> {
  return withTimeout(
    new Promise((resolve) => bus.onMessage((m) => m.topic === topic && resolve(m))),
    WAIT,
    `the bus got nothing on ${topic}`,
  );
}

function nextConnect(bus: MqttBus): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const off = bus.onConnect(() => {
        off();
        resolve();
      });
    }),
    WAIT,
    "the bus did not reconnect",
  );
}

/** A TCP relay to the broker that can drop every connection abruptly (as a crash or a cable would). */
async function startProxy(port: number) {
  const sockets = new Set<net.Socket>();
  let accepting = true;
  const server = net.createServer((inbound) => {
    if (!accepting) return inbound.destroy();
    const outbound = net.connect(port, "127.0.0.1");
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => {}).on("close", () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const proxy = {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    accept: (on: boolean) => {
      accepting = on;
    },
  };
  cleanups.push(() => new Promise((resolve) => server.close(resolve)).finally(proxy.cut));
  return proxy;
}

for (const version of VERSIONS) {
  const v = `MQTT ${version === 5 ? "5" : "3.1.1"}`;

  test(`${v}: an abrupt loss publishes the will; the reconnect republishes online`, { skip }, async (t) => {
    t.after(cleanup);
    const proxy = await startProxy(broker.port);
    const bus = makeBus(proxy.url, version);
    const state = `t${counter}/state`;
    const watcher = await observer(broker.url, version, [state]);
    const disconnected = new Promise<string>((resolve) => bus.onDisconnect(resolve));
    await bus.connect();
    assert.equal(bus.connected, true);
    const online = nextMessage(watcher, state, "online");
    await bus.publishRetained(state, "online");
    await online;
    const offline = nextMessage(watcher, state, "offline");
    const backOnline = nextMessage(watcher, state, "online");
    proxy.cut();
    assert.equal((await offline).retain, false, "delivered live");
    assert.equal(typeof (await disconnected), "string");
    await backOnline;
    const late = await observer(broker.url, version);
    const stored = nextMessage(late, state);
    await late.subscribeAsync(state, { qos: 1 });
    assert.equal((await stored).payload.toString(), "online");
  });

  test(`${v}: retained messages and subscriptions come back after a broker restart`, { skip }, async (t) => {
    t.after(cleanup);
    const bus = makeBus(broker.url, version);
    const p = `t${counter}`;
    await bus.connect();
    await bus.subscribe([`${p}/cmd/+`]);
    await bus.subscribe([`${p}/cmd/+`]); // idempotent
    await bus.publishRetained(`${p}/kept`, "v1");
    await bus.publishRetained(`${p}/gone`, "x");
    await bus.clearRetained(`${p}/gone`);
    const reconnected = nextConnect(bus);
    await broker.restart(); // persistence is off: the broker forgets retained messages and sessions
    await reconnected;
    const watcher = await observer(broker.url, version);
    const kept = nextMessage(watcher, `${p}/kept`);
    await watcher.subscribeAsync(`${p}/+`, { qos: 1 });
    const message = await kept;
    assert.equal(message.payload.toString(), "v1");
    assert.equal(message.retain, true);
    const request = nextIncoming(bus, `${p}/cmd/ping`);
    await watcher.publishAsync(`${p}/cmd/ping`, "{}", { qos: 1 });
    assert.equal((await request).payload.toString(), "{}");
  });

  test(`${v}: QoS 1 requests sent while the worker is away arrive after it reconnects`, {
    skip,
  }, async (t) => {
    t.after(cleanup);
    const proxy = await startProxy(broker.port);
    const bus = makeBus(proxy.url, version);
    const p = `t${counter}`;
    await bus.connect();
    await bus.subscribe([`${p}/cmd/+`]);
    const watcher = await observer(broker.url, version, [`${p}/state`]);
    const willSent = nextMessage(watcher, `${p}/state`, "offline");
    proxy.accept(false);
    proxy.cut();
    await willSent; // the broker has seen the worker go
    await watcher.publishAsync(`${p}/cmd/reboot`, "late", { qos: 1 });
    const delivered = nextIncoming(bus, `${p}/cmd/reboot`);
    // A publish made while disconnected waits for the connection instead of failing at once.
    const reply = nextMessage(watcher, `${p}/state`, "queued");
    const publishing = bus.publish(`${p}/state`, "queued");
    proxy.accept(true);
    assert.equal((await delivered).payload.toString(), "late");
    await publishing;
    await reply;
  });

  test(`${v}: a publish gives up after publishTimeoutMs without a broker`, { skip }, async (t) => {
    t.after(cleanup);
    const proxy = await startProxy(broker.port);
    const bus = makeBus(proxy.url, version, { publishTimeoutMs: 300 });
    await bus.connect();
    proxy.accept(false);
    const gone = new Promise((resolve) => bus.onDisconnect(resolve));
    proxy.cut();
    await gone;
    await assert.rejects(
      bus.publish("x/y", "z"),
      /not connected to the MQTT broker for 300 ms; x\/y was not published/,
    );
    await bus.publishRetained("x/r", "kept for the next connect"); // remembered, resolves at once
  });

  test(`${v}: retain flag of live and stored retained messages`, { skip }, async (t) => {
    t.after(cleanup);
    const p = `t${counter + 1}`;
    const bus = makeBus(broker.url, version);
    await bus.connect();
    await bus.subscribe([`${p}/cmd/+`]);
    const live = nextIncoming(bus, `${p}/cmd/reboot`);
    const sender = await observer(broker.url, 5);
    await sender.publishAsync(`${p}/cmd/reboot`, "{}", { qos: 1, retain: true });
    // Retain As Published on MQTT 5; a 3.1.1 broker clears the flag on live delivery.
    assert.equal((await live).retain, version === 5);
    const second = makeBus(broker.url, version);
    await second.connect();
    const stored = nextIncoming(second, `${p}/cmd/reboot`);
    await second.subscribe([`${p}/cmd/+`]);
    assert.equal((await stored).retain, true);
    await sender.publishAsync(`${p}/cmd/reboot`, "", { qos: 1, retain: true }); // leave no retained command
  });

  test(`${v}: request properties are parsed, the reply carries the correlation data`, { skip }, async (t) => {
    t.after(cleanup);
    const bus = makeBus(broker.url, version);
    const p = `t${counter}`;
    await bus.connect();
    await bus.subscribe([`${p}/cmd/+`]);
    const client = await observer(broker.url, 5, [`${p}/answers`]);
    const incoming = nextIncoming(bus, `${p}/cmd/ping`);
    const properties = {
      responseTopic: `${p}/answers`,
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: { a: "1", b: ["x", "y"] },
      messageExpiryInterval: 60,
    };
    await client.publishAsync(`${p}/cmd/ping`, "{}", { qos: 1, properties });
    const m = await incoming;
    assert.equal(m.duplicate, false);
    if (version === 4) {
      assert.equal(m.responseTopic, undefined);
      return;
    }
    assert.equal(m.responseTopic, `${p}/answers`);
    assert.deepEqual(m.correlationData, Buffer.from([1, 2, 3]));
    assert.deepEqual({ ...m.userProperties }, { a: "1", b: ["x", "y"] });
    assert.ok(m.messageExpirySeconds !== undefined && m.messageExpirySeconds <= 60);
    const answer = nextMessage(client, `${p}/answers`);
    await bus.publish(m.responseTopic!, "pong", {
      correlationData: m.correlationData!,
      messageExpirySeconds: 30,
    });
    const reply = await answer;
    assert.deepEqual(reply.properties?.correlationData, Buffer.from([1, 2, 3]));
  });

  test(`${v}: user name and password; a wrong password is a readable error`, { skip }, async (t) => {
    t.after(cleanup);
    const secured = await startMosquitto({ users: { worker: "s3cret" } });
    cleanups.push(() => secured.stop());
    const good = makeBus(secured.url, version, { username: "worker", password: "s3cret" });
    await good.connect();
    const bad = makeBus(secured.url, version, { username: "worker", password: "wrong" });
    await assert.rejects(bad.connect(), (err: Error) => {
      assert.match(err.message, /cannot connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+: /);
      // Mosquitto 2.0 answers a wrong password with "not authorized" (3.1.1: 5, MQTT 5: 135).
      assert.match(err.message, /not authorized \(check mqtt\.username \/ mqtt\.password/);
      return true;
    });
    assert.equal(bad.connected, false);
  });
}

test("nothing listening: connect() names the URL and says connection refused", { skip }, async (t) => {
  t.after(cleanup);
  const closed = net.createServer().listen(0, "127.0.0.1");
  await once(closed, "listening");
  const url = `mqtt://127.0.0.1:${(closed.address() as net.AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(makeBus(url, 5).connect(), new RegExp(`${url}: nothing accepts connections there`));
});

test("TLS with a CA and a client certificate", { skip }, async (t) => {
  t.after(cleanup);
  const secure = await startMosquitto({ tls: true });
  cleanups.push(() => secure.stop());
  const files = {
    ca: secure.caFile!,
    cert: secure.clientCert!,
    key: secure.clientKey!,
    rejectUnauthorized: true,
  };
  const bus = makeBus(secure.tlsUrl!, 5, { tls: files });
  await bus.connect();
  await bus.subscribe(["tls/cmd/+"]);
  const incoming = nextIncoming(bus, "tls/cmd/ping");
  const plain = await observer(secure.url, 5);
  await plain.publishAsync("tls/cmd/ping", "over tls", { qos: 1 });
  assert.equal((await incoming).payload.toString(), "over tls");
  const noCa = makeBus(secure.tlsUrl!, 5, { tls: { ...files, ca: undefined } });
  await assert.rejects(noCa.connect(), /not trusted \(set mqtt\.tls\.ca\)/);
  const noCert = makeBus(secure.tlsUrl!, 5, { tls: { ca: files.ca, rejectUnauthorized: true } });
  await assert.rejects(
    noCert.connect(),
    /mqtts:.*refused the TLS handshake \(alert [a-z ]+\); does it require a client certificate/,
  );
});

test("publishing to a topic with a wildcard is refused", { skip }, async (t) => {
  t.after(cleanup);
  const bus = makeBus(broker.url, 5);
  await bus.connect();
  for (const topic of ["a/+/b", "a/#", "+", ""]) {
    await assert.rejects(bus.publish(topic, "x"), TypeError);
    await assert.rejects(bus.publishRetained(topic, "x"), TypeError);
  }
});

test("close() publishes the offline state and refuses later publishes", { skip }, async (t) => {
  t.after(cleanup);
  const bus = makeBus(broker.url, 4);
  const state = `t${counter}/state`;
  await bus.connect();
  await bus.publishRetained(state, "online");
  const watcher = await observer(broker.url, 4, [state]);
  const offline = nextMessage(watcher, state, "offline");
  await bus.close();
  await offline;
  assert.equal(bus.connected, false);
  await assert.rejects(bus.publish(state, "online"), /closed/);
  await assert.rejects(bus.publishRetained(state, "online"), /closed/);
});
