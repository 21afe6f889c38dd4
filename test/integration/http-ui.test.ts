import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import pino from "pino";
import { stringify } from "yaml";
import { BridgeInfoPayload } from "../../src/census/bridge-info-schema.js";
import { Mqtt } from "../../src/config/broker.js";
import { DashboardConfig } from "../../src/dashboard/config-json.js";
import { CONTENT_SECURITY_POLICY } from "../../src/dashboard/headers.js";
import { ensureUiBuilt } from "../../src/dashboard/ui-files.js";
import { brokerRoute } from "../../src/dashboard/upstream.js";
import type { WorkerConsole } from "../../src/http/console.js";
import { WorkerMetrics } from "../../src/http/metrics.js";
import { startHttpServer } from "../../src/http/server.js";
import { packageVersion } from "../../src/version.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type RawResponse, rawGet, tryWebSocket } from "../helpers/http-probes.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * The worker CLI with `http.ui: true` on 127.0.0.1:0: the console (as `qga-mqtt dashboard` serves it) under
 * /ui/ of the worker's own HTTP server, beside /healthz and /metrics, against a mosquitto that has no
 * WebSocket listener, with a password file and the shipped ACL. The browser's MQTT goes through the pipe at
 * /ui/mqtt and logs in with the person's own user; a worker without http.ui serves no /ui/ at all.
 */
const skip = skipWithout("mosquitto", "mosquitto_passwd");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const users = { "qga-worker": "worker-pw", operator: "operator-pw", viewer: "viewer-pw" };
const silent = pino({ level: "silent" });
let dir: string;
let broker: Mosquitto;
let fake: FakeAgent;
let worker: WorkerProcess;
let plain: WorkerProcess;
/** http://127.0.0.1:PORT of the worker with http.ui, and of the one without. */
let origin: string;
let plainOrigin: string;
const clients: MqttClient[] = [];

async function httpPort(w: WorkerProcess): Promise<number> {
  const line = await w.waitForLog((l) => l.component === "http" && "port" in l);
  return Number(line.port);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-http-ui-"));
  const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
  // The page is built before the worker starts, so no request below waits for a Vite build.
  [broker] = await Promise.all([startMosquitto({ users, acl }), ensureUiBuilt(root, silent)]);
  fake = await FakeAgent.start({ path: path.join(dir, "vm1.sock") });
  const mqttSettings = { url: broker.url, username: "qga-worker" };
  const env = { QGA_MQTT_MQTT_PASSWORD: users["qga-worker"] };
  [worker, plain] = await Promise.all([
    startWorker(
      dir,
      {
        worker: { id: "ui-host" },
        mqtt: mqttSettings,
        vms: [{ name: "vm1", socket: fake.path }],
        http: { listen: "127.0.0.1:0", ui: true },
      },
      env,
    ),
    startWorker(
      dir,
      { worker: { id: "plain-host" }, mqtt: mqttSettings, http: { listen: "127.0.0.1:0" } },
      env,
    ),
  ]);
  origin = `http://127.0.0.1:${await httpPort(worker)}`;
  plainOrigin = `http://127.0.0.1:${await httpPort(plain)}`;
  await worker.waitForLog((line) => line.vm === "vm1" && line.msg === "guest agent online");
});

after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  await worker?.stop();
  await plain?.stop();
  await fake?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A GET as sent to the server at `base`, path untouched. */
function get(
  base: string,
  requestPath: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return rawGet(hostname, port, requestPath, headers);
}

const wsUrl = (base: string) => `${base.replace(/^http/, "ws")}/ui/mqtt`;

/** MQTT.js over WebSocket through the pipe of `base`, as the page connects (its Origin, no reconnects). */
async function wsClient(
  user: keyof typeof users,
  base = origin,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(wsUrl(base), {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    username: user,
    password: users[user],
    wsOptions: { origin: base },
    ...options,
  });
  clients.push(client);
  return client;
}

test("GET /ui/ serves the built page with the dashboard's security headers; /ui redirects to it", {
  skip,
}, async () => {
  const page = await get(origin, "/ui/");
  assert.equal(page.status, 200);
  assert.match(page.headers["content-type"] ?? "", /^text\/html/);
  assert.equal(page.headers["content-security-policy"], CONTENT_SECURITY_POLICY);
  assert.equal(page.headers["x-content-type-options"], "nosniff");
  assert.equal(page.headers["x-frame-options"], "DENY");
  assert.equal(page.body, await readFile(path.join(root, "dist/ui/index.html"), "utf8"));
  // The page's assets are relative (vite base "./"): under /ui/ they resolve to /ui/assets/….
  const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.body)?.[1];
  assert.ok(script, "the page names its script");
  const asset = await get(origin, `/ui/${script}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers["content-type"] ?? "", /^text\/javascript/);
  assert.match(asset.headers["cache-control"] ?? "", /immutable/);
  const bare = await get(origin, "/ui");
  assert.equal(bare.status, 308);
  assert.equal(bare.headers.location, "/ui/");
  for (const attempt of ["/ui/..%2f..%2fpackage.json", "/ui/%2e%2e/package.json", "/ui/../package.json"]) {
    const response = await get(origin, attempt);
    assert.equal(response.status, 404, attempt);
    assert.doesNotMatch(response.body, /qga-mqtt/, attempt);
  }
});

test("GET /ui/config.json: the worker's own broker through the pipe beside the page, no credentials", {
  skip,
}, async () => {
  const response = await get(origin, "/ui/config.json");
  assert.equal(response.status, 200);
  assert.match(response.headers["content-type"] ?? "", /^application\/json/);
  assert.equal(response.headers["cache-control"], "no-store");
  assert.deepEqual(DashboardConfig.parse(JSON.parse(response.body)), {
    brokerUrl: "/ui/mqtt",
    baseTopic: "qga",
    version: packageVersion(),
    needsLogin: true,
  });
  assert.doesNotMatch(response.body, /worker-pw|qga-worker/);
});

test("MQTT.js over the pipe at /ui/mqtt logs in as its own user and reads the worker's retained info", {
  skip,
}, async () => {
  const viewer = await wsClient("viewer");
  const info = new Promise<Buffer>((resolve) =>
    viewer.on("message", (topic, payload) => {
      if (topic === "qga/bridge/ui-host/info") resolve(payload);
    }),
  );
  await viewer.subscribeAsync("qga/bridge/ui-host/info", { qos: 1 });
  const parsed = BridgeInfoPayload.parse(
    JSON.parse((await withTimeout(info, 10_000, "no retained info through the pipe")).toString()),
  );
  assert.equal(parsed.worker, "ui-host");
  assert.deepEqual(
    parsed.vms.map((vm) => vm.name),
    ["vm1"],
  );
  // The broker's ACL, not the worker, decides: the viewer's command is refused (the worker lends no rights).
  const refused = await viewer.publishAsync("qga/vm1/cmd/ping", '{"id":"u1"}', { qos: 1 }).then(
    () => undefined,
    (e: { code?: number }) => e.code,
  );
  assert.equal(refused, 135);
  // No user: the pipe adds none, so the broker refuses the anonymous login.
  const anonymous = await mqtt
    .connectAsync(wsUrl(origin), { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5_000 })
    .then(
      (client) => {
        clients.push(client);
        return "connected";
      },
      (error: { code?: number }) => error.code,
    );
  assert.ok(anonymous === 134 || anonymous === 135, `the worker added no credentials: ${anonymous}`);
  await viewer.endAsync();
});

test("the pipe keeps to the page: another site's Origin is 403, a rebound Host 421, another path 404", {
  skip,
}, async () => {
  const url = wsUrl(origin);
  assert.equal(await tryWebSocket(url, { origin: "http://evil.example" }), 403);
  assert.equal(await tryWebSocket(url, { origin: `${origin.replace(/\d+$/, "1")}` }), 403);
  assert.equal(await tryWebSocket(url, { origin }), "open");
  const port = new URL(origin).port;
  const rebound = `evil.example:${port}`;
  assert.equal(await tryWebSocket(url, { headers: { host: rebound }, origin: `http://${rebound}` }), 421);
  assert.equal((await get(origin, "/ui/config.json", { host: rebound })).status, 421);
  assert.equal((await get(origin, "/ui/", { host: rebound })).status, 421);
  assert.equal(await tryWebSocket(`${origin.replace(/^http/, "ws")}/mqtt`, { origin }), 404);
  assert.equal(await tryWebSocket(`${origin.replace(/^http/, "ws")}/metrics`, { origin }), 404);
});

test("/healthz and /metrics answer as without the console (no Host check there)", { skip }, async () => {
  for (const base of [origin, plainOrigin]) {
    const health = await get(base, "/healthz", { host: `monitor.example:${new URL(base).port}` });
    assert.equal(health.status, 200, base);
    assert.equal(health.headers["content-type"], "application/json");
    assert.equal(health.headers["content-security-policy"], undefined);
    const body = JSON.parse(health.body) as Record<string, unknown>;
    assert.equal(body.status, "ok");
    assert.equal(body.broker, "connected");
    const metrics = await get(base, "/metrics");
    assert.equal(metrics.status, 200, base);
    assert.match(metrics.headers["content-type"] ?? "", /^text\/plain/);
    assert.match(metrics.body, /^qga_mqtt_broker_connected 1$/m);
    assert.equal((await get(base, "/nope")).status, 404);
  }
  assert.match((await get(origin, "/healthz")).body, /"vms":1,"agents_online":1/);
});

test("without http.ui there is no /ui/: 404, and no WebSocket", { skip }, async () => {
  for (const p of ["/ui/", "/ui", "/ui/config.json", "/ui/index.html"]) {
    const response = await get(plainOrigin, p);
    assert.equal(response.status, 404, p);
    assert.equal(response.body, "not found: try /healthz or /metrics\n", p);
  }
  assert.notEqual(await tryWebSocket(wsUrl(plainOrigin), { origin: plainOrigin }), "open");
});

/** The HTTP server alone, its console given directly (a stand-in fleet; the real broker for the pipe). */
async function serveConsole(ui: WorkerConsole, listen = "127.0.0.1:0") {
  const metrics = new WorkerMetrics();
  const fleet = { brokerConnected: () => true, vms: () => [] };
  metrics.attach(fleet);
  return startHttpServer({ listen, metrics, fleet, bus: { onDisconnect: () => () => {} }, log: silent, ui });
}

async function consoleParts(uiDir: Promise<string>, maxConnections?: number): Promise<WorkerConsole> {
  const route = await brokerRoute(Mqtt.parse({ url: broker.url }));
  const config = { brokerUrl: "/ui/mqtt", baseTopic: "qga", version: "t", needsLogin: true };
  return { route, config, uiDir, ...(maxConnections !== undefined ? { maxConnections } : {}) };
}

test("a page still being built is waited for; one that cannot be built is 503 with why; the cap is 503", {
  skip,
}, async () => {
  let finish: (dir: string) => void = () => {};
  const building = new Promise<string>((resolve) => {
    finish = resolve;
  });
  const pending = await serveConsole(await consoleParts(building, 1));
  try {
    const base = `http://127.0.0.1:${pending.port}`;
    // config.json and the pipe need no page: they answer at once.
    assert.equal((await get(base, "/ui/config.json")).status, 200);
    await wsClient("operator", base);
    assert.equal(await tryWebSocket(wsUrl(base), { origin: base }), 503);
    const page = get(base, "/ui/");
    let answered = false;
    void page.then(() => {
      answered = true;
    });
    // A request sent after the page's is answered first: the page's is waiting for the build.
    assert.equal((await get(base, "/healthz")).status, 200);
    assert.equal(answered, false, "the page was answered before it was built");
    const built = path.join(dir, "built");
    await mkdir(built);
    await writeFile(path.join(built, "index.html"), "<!doctype html><p>built late</p>");
    finish(built);
    const served = await page;
    assert.equal(served.status, 200);
    assert.equal(served.body, "<!doctype html><p>built late</p>");
  } finally {
    await pending.close();
  }
  const broken = Promise.reject(new Error("the dashboard's page is not built (no index.html)"));
  // As workerConsole does: the site handles it, this keeps it from being "unhandled" until then.
  broken.catch(() => {});
  const failed = await serveConsole(await consoleParts(broken));
  try {
    const response = await get(`http://127.0.0.1:${failed.port}`, "/ui/");
    assert.equal(response.status, 503);
    assert.match(response.body, /page is not built/);
    assert.equal((await get(`http://127.0.0.1:${failed.port}`, "/healthz")).status, 200);
  } finally {
    await failed.close();
  }
  await assert.rejects(serveConsole(await consoleParts(Promise.resolve(dir)), "0.0.0.0:0"), /loopback/);
});

test("check-config and run refuse http.ui on a non-loopback http.listen, naming both settings", async () => {
  const file = path.join(dir ?? os.tmpdir(), `ui-wide-${process.pid}.yaml`);
  await writeFile(file, stringify({ http: { listen: "0.0.0.0:9883", ui: true } }));
  try {
    for (const command of ["check-config", "run"]) {
      const result = await runCli([command, "--config", file]);
      assert.equal(result.code, 1, `${command}: ${result.stderr}`);
      assert.match(result.stderr, /✖ http\.ui \(line \d+\): .*http\.listen must be a loopback address/);
      assert.match(result.stderr, /not 0\.0\.0\.0:9883/);
      assert.match(
        result.stderr,
        /Bind http\.listen to loopback, or serve the console with qga-mqtt dashboard/,
      );
    }
    const unset = await runCli(["check-config"], { QGA_MQTT_HTTP_UI: "true" });
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /http\.ui \(from QGA_MQTT_HTTP_UI\): .*http\.listen, which is unset/);
    const loopback = await runCli(["check-config"], {
      QGA_MQTT_HTTP_UI: "true",
      QGA_MQTT_HTTP_LISTEN: "127.0.0.1:9883",
    });
    assert.equal(loopback.code, 0, loopback.stderr);
  } finally {
    await rm(file, { force: true });
  }
});
