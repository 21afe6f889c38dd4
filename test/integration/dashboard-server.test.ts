import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import pino from "pino";
import WebSocket from "ws";
import { Mqtt } from "../../src/config/broker.js";
import { DashboardConfig } from "../../src/dashboard/config-json.js";
import { DashboardError } from "../../src/dashboard/errors.js";
import { type Dashboard, type DashboardOptions, startDashboard } from "../../src/dashboard/server.js";
import { ensureUiBuilt } from "../../src/dashboard/ui-files.js";
import { brokerRoute } from "../../src/dashboard/upstream.js";
import { type RawResponse, rawGet, tryWebSocket } from "../helpers/http-probes.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { waitUntil, withTimeout } from "../helpers/wait.js";

/**
 * The dashboard's server against a real mosquitto with a password file and the shipped ACL
 * (config/mosquitto/acl, as is): the pipe at /mqtt carries MQTT.js's WebSocket client byte for byte, the
 * broker alone decides who logs in and what they may do, and the server keeps to its own origin and folder.
 */
const skip = skipWithout("mosquitto", "mosquitto_passwd", "openssl");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const users = { "qga-worker": "worker-pw", operator: "operator-pw", viewer: "viewer-pw" };
const silent = pino({ level: "silent" });
let dir: string;
let uiDir: string;
let broker: Mosquitto;
let dashboard: Dashboard;
const clients: MqttClient[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-dashboard-"));
  uiDir = path.join(dir, "ui");
  await mkdir(path.join(uiDir, "assets"), { recursive: true });
  await writeFile(
    path.join(uiDir, "index.html"),
    '<!doctype html><script type="module" src="./assets/app-1a2b.js"></script>',
  );
  await writeFile(path.join(uiDir, "assets", "app-1a2b.js"), "console.log('page')\n");
  // Beside the page, not in it: what a traversal would be after.
  await writeFile(path.join(dir, "secret.txt"), "not for the browser\n");
  const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
  broker = await startMosquitto({ users, acl });
  dashboard = await start();
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  await dashboard?.close();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function start(extra: Partial<DashboardOptions> = {}, url = broker.url): Promise<Dashboard> {
  return startDashboard({
    listen: { host: "127.0.0.1", port: 0 },
    uiDir,
    route: await brokerRoute(Mqtt.parse({ url })),
    config: { brokerUrl: "/mqtt", baseTopic: "qga", version: "0.0.0-test", needsLogin: true },
    machineName: "test-host",
    log: silent,
    ...extra,
  });
}

/** MQTT.js over WebSocket through the pipe, as the page's client connects (no reconnects: a refusal ends it). */
async function wsClient(
  url: string,
  user: keyof typeof users,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    username: user,
    password: users[user],
    ...options,
  });
  clients.push(client);
  return client;
}

const mqttUrl = (d: Dashboard) => d.url.replace(/^http/, "ws").replace(/\/$/, "/mqtt");

function nextMessage(client: MqttClient, topic: string): Promise<Buffer> {
  return withTimeout(
    new Promise((resolve) => {
      const listener = (t: string, payload: Buffer) => {
        if (t !== topic) return;
        client.off("message", listener);
        resolve(payload);
      };
      client.on("message", listener);
    }),
    15_000,
    `no message on ${topic}`,
  );
}

/**
 * How an anonymous MQTT.js connect through the pipe ends: "connected", or "closed" when the pipe closes
 * the WebSocket because the broker's side failed (connectAsync settles on neither close nor timeout then).
 */
async function connectOutcome(url: string): Promise<"connected" | "closed" | string> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5_000 });
  try {
    return await withTimeout(
      new Promise<string>((resolve) => {
        client.once("connect", () => resolve("connected"));
        client.once("error", (error) => resolve(error.message));
        client.once("close", () => resolve("closed"));
      }),
      10_000,
      "the connect through the pipe neither succeeded nor ended",
    );
  } finally {
    client.end(true);
  }
}

/** A GET as sent to the dashboard on loopback, path untouched. */
function get(
  port: number,
  requestPath: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<RawResponse> {
  return rawGet("127.0.0.1", port, requestPath, headers);
}

test("the pipe carries MQTT.js's WebSocket client to mosquitto: publish and subscribe round-trip", {
  skip,
}, async () => {
  const origin = dashboard.url.replace(/\/$/, "");
  const viewer = await wsClient(mqttUrl(dashboard), "viewer", { wsOptions: { origin } });
  const operator = await wsClient(mqttUrl(dashboard), "operator", { wsOptions: { origin } });
  await viewer.subscribeAsync("qga/#", { qos: 1 });
  const small = nextMessage(viewer, "qga/web1/cmd/ping");
  await operator.publishAsync("qga/web1/cmd/ping", '{"id":"d1"}', { qos: 1 });
  assert.equal((await small).toString(), '{"id":"d1"}');
  // Larger than the pipe's high-water mark both ways: paused and resumed, nothing lost or reordered.
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
  const received = nextMessage(viewer, "qga/web1/cmd/write-file");
  await operator.publishAsync("qga/web1/cmd/write-file", big, { qos: 1 });
  assert.ok((await received).equals(big), "the 4 MiB payload arrived intact");
  assert.equal(dashboard.connections(), 2);
  await Promise.all([viewer.endAsync(), operator.endAsync()]);
  // The server announces no closed pipe: its count is asked.
  await waitUntil(
    "the pipes closed after the clients left",
    5_000,
    async () => dashboard.connections() === 0,
  );
});

test("the broker alone authenticates: a wrong password is refused through the pipe, the right one accepted", {
  skip,
}, async () => {
  const refused = await mqtt
    .connectAsync(mqttUrl(dashboard), {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      username: "operator",
      password: "wrong",
    })
    .then(
      (client) => {
        clients.push(client);
        return undefined;
      },
      (error: { code?: number }) => error,
    );
  assert.ok(refused, "a wrong password must not connect");
  assert.ok(refused.code === 134 || refused.code === 135, `CONNACK reason ${refused.code}`);
  const anonymous = await mqtt
    .connectAsync(mqttUrl(dashboard), { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5_000 })
    .then(
      () => "connected",
      (error: { code?: number }) => error.code,
    );
  assert.ok(anonymous === 134 || anonymous === 135, `the dashboard added no credentials: ${anonymous}`);
  const accepted = await wsClient(mqttUrl(dashboard), "operator");
  assert.ok(accepted.connected);
  await accepted.endAsync();
});

test("the shipped ACL's viewer reads status through the pipe, and its command is refused with PUBACK 135", {
  skip,
}, async () => {
  const worker = await TestClient.connect(broker.url, {
    username: "qga-worker",
    password: users["qga-worker"],
  });
  try {
    await worker.publish("qga/vm1/status", '{"agent":"online"}', { retain: true });
  } finally {
    await worker.close();
  }
  const viewer = await wsClient(mqttUrl(dashboard), "viewer");
  const status = nextMessage(viewer, "qga/vm1/status");
  await viewer.subscribeAsync("qga/+/status", { qos: 1 });
  assert.equal(JSON.parse((await status).toString()).agent, "online");
  for (const topic of ["qga/vm1/cmd/reboot", "qga/group/web/cmd/ping", "qga/vm1/status"]) {
    const error = await viewer.publishAsync(topic, '{"id":"v1"}', { qos: 1 }).then(
      () => undefined,
      (e: { code?: number }) => e,
    );
    assert.equal(error?.code, 135, `${topic}: the viewer's publish must be refused with 135`);
  }
  await viewer.endAsync();
});

test("a WebSocket from another site's page is refused (403); the dashboard's own origin is let through", {
  skip,
}, async () => {
  const url = mqttUrl(dashboard);
  assert.equal(await tryWebSocket(url, { origin: "http://evil.example" }), 403);
  assert.equal(await tryWebSocket(url, { origin: `http://127.0.0.1:${dashboard.port + 1}` }), 403);
  assert.equal(await tryWebSocket(url, { origin: dashboard.url.replace(/\/$/, "") }), "open");
  // DNS rebinding: another name resolved to 127.0.0.1 reaches the listener with that name as Host.
  const rebound = `evil.example:${dashboard.port}`;
  assert.equal(await tryWebSocket(url, { headers: { host: rebound }, origin: `http://${rebound}` }), 421);
  assert.equal((await get(dashboard.port, "/config.json", { host: rebound })).status, 421);
  assert.equal(await tryWebSocket(url.replace("/mqtt", "/other")), 404);
});

test("GET /config.json: the page's settings, with no credentials in them", { skip }, async () => {
  const response = await get(dashboard.port, "/config.json");
  assert.equal(response.status, 200);
  assert.match(response.headers["content-type"] ?? "", /^application\/json/);
  assert.equal(response.headers["cache-control"], "no-store");
  const config = DashboardConfig.parse(JSON.parse(response.body));
  assert.deepEqual(config, { brokerUrl: "/mqtt", baseTopic: "qga", version: "0.0.0-test", needsLogin: true });
});

test("the page's files: content types, caching, the CSP; nothing outside the folder (404)", {
  skip,
}, async () => {
  const index = await get(dashboard.port, "/");
  assert.equal(index.status, 200);
  assert.match(index.headers["content-type"] ?? "", /^text\/html/);
  assert.equal(index.headers["cache-control"], "no-cache");
  const csp = String(index.headers["content-security-policy"]);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /connect-src 'self' ws: wss:/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(index.headers["x-content-type-options"], "nosniff");
  const script = await get(dashboard.port, "/assets/app-1a2b.js?v=1");
  assert.equal(script.status, 200);
  assert.match(script.headers["content-type"] ?? "", /^text\/javascript/);
  assert.match(script.headers["cache-control"] ?? "", /immutable/);
  for (const attempt of [
    "/..%2f..%2fetc/passwd",
    "/%2e%2e/",
    "/%2e%2e/secret.txt",
    "/../secret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/..%5csecret.txt",
    "/index.html%00.js",
    "/%E0%A4%A",
    "/assets",
    "/missing.js",
  ]) {
    const response = await get(dashboard.port, attempt);
    assert.equal(response.status, 404, attempt);
    assert.doesNotMatch(response.body, /not for the browser|root:/, attempt);
  }
  const post = await new Promise<number>((resolve, reject) => {
    http
      .request({ host: "127.0.0.1", port: dashboard.port, path: "/", method: "POST" }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      })
      .on("error", reject)
      .end();
  });
  assert.equal(post, 405);
});

test("with --tls-cert and --tls-key it serves https, and the pipe works over wss", { skip }, async () => {
  const cert = path.join(dir, "dashboard.crt");
  const key = path.join(dir, "dashboard.key");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  const ca = await readFile(cert);
  const secure = await start({ tls: { cert: ca, key: await readFile(key) } });
  try {
    assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${secure.url}config.json`, { ca }, (response) => {
          let text = "";
          response.on("data", (chunk: Buffer) => {
            text += chunk.toString();
          });
          response.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    assert.equal(DashboardConfig.parse(JSON.parse(body)).brokerUrl, "/mqtt");
    const url = mqttUrl(secure);
    assert.match(url, /^wss:\/\//);
    const origin = secure.url.replace(/\/$/, "");
    const client = await wsClient(url, "operator", { wsOptions: { ca, origin } });
    await client.subscribeAsync("qga/tls1/cmd/#", { qos: 1 });
    const echoed = nextMessage(client, "qga/tls1/cmd/ping");
    await client.publishAsync("qga/tls1/cmd/ping", "over wss", { qos: 1 });
    assert.equal((await echoed).toString(), "over wss");
    // The plain-http origin of the same host and port is another origin.
    assert.equal(await tryWebSocket(url, { ca, origin: origin.replace("https", "http") }), 403);
    await client.endAsync();
  } finally {
    await secure.close();
  }
});

test("an mqtts:// broker is reached over TLS, verified with mqtt.tls.ca; the worker's client certificate is not presented", {
  skip,
}, async () => {
  const tlsBroker = await startMosquitto({ tls: true, requireCertificate: false });
  const piped: Dashboard[] = [];
  try {
    const verified = await start({}, tlsBroker.tlsUrl);
    piped.push(verified);
    // start() read no CA: the test CA is unknown, so the pipe's TLS handshake fails and the browser is told.
    assert.equal(await connectOutcome(mqttUrl(verified)), "closed");
    const trusted = await startDashboard({
      listen: { host: "127.0.0.1", port: 0 },
      uiDir,
      route: await brokerRoute(Mqtt.parse({ url: tlsBroker.tlsUrl, tls: { ca: tlsBroker.caFile } })),
      config: { brokerUrl: "/mqtt", baseTopic: "qga", version: "t", needsLogin: false },
      machineName: "test-host",
      log: silent,
    });
    piped.push(trusted);
    const client = await mqtt.connectAsync(mqttUrl(trusted), { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(client);
    await client.subscribeAsync("qga/t/#", { qos: 1 });
    const echoed = nextMessage(client, "qga/t/x");
    await client.publishAsync("qga/t/x", "over mqtts", { qos: 1 });
    assert.equal((await echoed).toString(), "over mqtts");
    await client.endAsync();
    // A broker that demands a client certificate refuses the pipe even when the worker has one configured.
    const strict = await startMosquitto({ tls: true });
    try {
      const withCert = await startDashboard({
        listen: { host: "127.0.0.1", port: 0 },
        uiDir,
        route: await brokerRoute(
          Mqtt.parse({
            url: strict.tlsUrl,
            tls: { ca: strict.caFile, cert: strict.clientCert, key: strict.clientKey },
          }),
        ),
        config: { brokerUrl: "/mqtt", baseTopic: "qga", version: "t", needsLogin: false },
        machineName: "test-host",
        log: silent,
      });
      piped.push(withCert);
      const refused = await connectOutcome(mqttUrl(withCert));
      assert.equal(refused, "closed", "the dashboard must not lend the worker's certificate");
    } finally {
      await strict.stop();
    }
  } finally {
    await Promise.all(piped.map((d) => d.close()));
    await tlsBroker.stop();
  }
});

test("connections over the cap are refused (503); stopping closes open pipes with 1001; a broker that drops its side closes the browser's", {
  skip,
}, async () => {
  const capped = await start({ maxConnections: 1 });
  try {
    const first = await wsClient(mqttUrl(capped), "operator", { clientId: "dash-cap-1" });
    assert.equal(await tryWebSocket(mqttUrl(capped)), 503);
    // The broker ends the first session when another client takes its client id: the pipe closes the WebSocket.
    const closed = new Promise<void>((resolve) => first.once("close", () => resolve()));
    const thief = await TestClient.connect(broker.url, {
      username: "operator",
      password: users.operator,
      clientId: "dash-cap-1",
    });
    await withTimeout(closed, 5_000, "the browser's WebSocket stayed open after the broker closed its side");
    await thief.close();
    first.end(true);
    const second = await new Promise<WebSocket>((resolve, reject) => {
      const tryOpen = () => {
        const ws = new WebSocket(mqttUrl(capped), ["mqtt"]);
        ws.once("open", () => resolve(ws));
        ws.once("unexpected-response", () => setTimeout(tryOpen, 50));
        ws.once("error", reject);
      };
      tryOpen();
    });
    assert.equal(second.protocol, "mqtt");
    const code = once(second, "close");
    await capped.close();
    assert.equal((await code)[0], 1001);
  } finally {
    await capped.close().catch(() => {});
  }
});

test("a browser that does not read holds the broker's socket back, not the dashboard's memory", {
  skip,
}, async (t) => {
  // A broker that sends 256 MiB as fast as its socket takes it, counting what the socket accepted.
  const chunk = Buffer.alloc(1 << 20, 7);
  const total = 256;
  let written = 0;
  const fake = net.createServer((socket) => {
    socket.on("error", () => {});
    const pump = () => {
      while (written < total * chunk.length) {
        written += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  fake.listen(0, "127.0.0.1");
  await once(fake, "listening");
  const port = (fake.address() as net.AddressInfo).port;
  const piped = await start({}, `mqtt://127.0.0.1:${port}`);
  try {
    const ws = new WebSocket(mqttUrl(piped), ["mqtt"]);
    let received = 0;
    ws.on("message", (data: Buffer) => {
      received += data.length;
    });
    await once(ws, "open");
    ws.pause();
    // Nothing announces that a writer is held back: it is seen when its count stops growing.
    let last = -1;
    await waitUntil("the broker's writes stalled", 30_000, async () => {
      const stalled = written === last && written > 0;
      last = written;
      return stalled;
    });
    assert.ok(
      written < (total / 2) * chunk.length,
      `the broker wrote ${written >> 20} MiB into a pipe whose browser reads nothing`,
    );
    t.diagnostic(`the broker was held back after ${(written / 2 ** 20).toFixed(0)} MiB`);
    const ended = once(ws, "close");
    ws.resume();
    await withTimeout(ended, 30_000, "the rest did not arrive");
    assert.equal(received, total * chunk.length, "every byte arrived once the browser read again");
  } finally {
    await piped.close();
    fake.close();
  }
});

test("ensureUiBuilt builds a missing dist/ui with Vite once, and says what to do when it cannot", {
  skip,
}, async () => {
  const bare = await mkdtemp(path.join(os.tmpdir(), "qga-ui-root-"));
  try {
    const error = await ensureUiBuilt(bare, silent).catch((e: unknown) => e);
    assert.ok(error instanceof DashboardError);
    assert.equal(error.code, "ui_missing");
    assert.match(error.message, /npm run build:ui/);
    await mkdir(path.join(bare, "ui"));
    await writeFile(path.join(bare, "package.json"), '{"type":"module"}\n');
    await writeFile(
      path.join(bare, "ui", "vite.config.ts"),
      'export default { logLevel: "warn", build: { outDir: "../dist/ui", emptyOutDir: true } };\n',
    );
    await writeFile(
      path.join(bare, "ui", "index.html"),
      '<!doctype html><title>t</title><script type="module" src="./main.js"></script>\n',
    );
    await writeFile(path.join(bare, "ui", "main.js"), "document.title = 'built';\n");
    const logged: string[] = [];
    const log = {
      info: (_: unknown, message: string) => void logged.push(message),
    } as unknown as pino.Logger;
    const built = await ensureUiBuilt(bare, log);
    assert.equal(built, path.join(bare, "dist", "ui"));
    assert.match(
      await readFile(path.join(built, "index.html"), "utf8"),
      /<script type="module"[^>]*src="[^"]*assets\//,
    );
    assert.ok((await readdir(path.join(built, "assets"))).some((f) => f.endsWith(".js")));
    assert.equal(logged.length, 1, "the build is logged");
    assert.deepEqual(
      (await readdir(path.join(bare, "dist"))).filter((f) => f.startsWith(".ui-build-")),
      [],
      "no staging folder is left",
    );
    await ensureUiBuilt(bare, log);
    assert.equal(logged.length, 1, "a built page is not built again");
  } finally {
    await rm(bare, { recursive: true, force: true });
  }
});
