import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt from "mqtt";
import { DashboardConfig } from "../../src/dashboard/config-json.js";
import { packageVersion } from "../../src/version.js";
import { runCli } from "../helpers/cli.js";
import { startCli } from "../helpers/cli-process.js";
import { rawGet } from "../helpers/http-probes.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * `qga-mqtt dashboard` as a person runs it: one line saying what to open, the page and its settings served
 * until SIGTERM or Ctrl-C (exit 0), and options that cannot work refused before anything starts (exit 2).
 * The first run in a checkout without dist/ui builds the page (ensureUiBuilt), hence the long first wait.
 */
const skip = skipWithout("mosquitto");
const BUILD_MS = 120_000;
let broker: Mosquitto;

before(async () => {
  if (!skip) broker = await startMosquitto();
});

after(async () => {
  await broker?.stop();
});

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port, pathname, search } = new URL(url);
  const response = await rawGet(hostname, port, pathname + search);
  return { status: response.status, type: response.headers["content-type"] ?? "", body: response.body };
}

const OPENS = /open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/;

test("dashboard prints the URL to open, serves the page and /config.json, and stops on SIGTERM with 0", {
  skip,
}, async () => {
  const cli = startCli(["dashboard", "--listen", "127.0.0.1:0", "--url", broker.url], {
    QGA_MQTT_LOG_LEVEL: "warn",
  });
  try {
    const line = await cli.line("stderr", (l) => OPENS.test(l), BUILD_MS);
    assert.match(line, /your own broker user/);
    assert.match(line, new RegExp(`through this server to ${broker.url.replace(/[.]/g, "\\.")}`));
    const url = OPENS.exec(line)![1]!;
    const config = await get(`${url}config.json`);
    assert.equal(config.status, 200);
    assert.deepEqual(DashboardConfig.parse(JSON.parse(config.body)), {
      brokerUrl: "/mqtt",
      baseTopic: "qga",
      version: packageVersion(),
      needsLogin: false,
    });
    const page = await get(url);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<script type="module"[^>]+src="[^"]+\.js"/);
    assert.doesNotMatch(
      page.body,
      /<script(?![^>]*\bsrc=)[^>]*>[^<]+<\/script>/,
      "no inline script (the CSP forbids it)",
    );
    // A browser connected through the pipe does not hold the stop up.
    const client = await mqtt.connectAsync(`${url.replace("http", "ws")}mqtt`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    await client.subscribeAsync("qga/#");
    const started = Date.now();
    assert.equal(await cli.stop("SIGTERM"), 0);
    assert.ok(Date.now() - started < 5_000, "stopped within 5 s");
    client.end(true);
    assert.equal(cli.lines.stdout.join(""), "", "nothing on stdout");
  } finally {
    await cli.stop("SIGKILL");
  }
});

test("--broker-ws: the page is sent to the broker's own WebSocket listener; Ctrl-C stops with 0", {
  skip,
}, async () => {
  const cli = startCli(
    ["dashboard", "--listen", "127.0.0.1:0", "--broker-ws", "wss://broker.example:9001/mqtt"],
    { QGA_MQTT_LOG_LEVEL: "warn", QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_USERNAME: "worker" },
  );
  try {
    const line = await cli.line("stderr", (l) => OPENS.test(l), BUILD_MS);
    assert.match(line, /at wss:\/\/broker\.example:9001\/mqtt/);
    const config = JSON.parse((await get(`${OPENS.exec(line)![1]!}config.json`)).body);
    assert.equal(config.brokerUrl, "wss://broker.example:9001/mqtt");
    assert.equal(config.needsLogin, true, "the configured broker takes a user: the page asks for one");
    assert.equal(await cli.stop("SIGINT"), 0);
  } finally {
    await cli.stop("SIGKILL");
  }
});

test("options that cannot work are usage errors (exit 2) before anything listens", async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["--listen", "0.0.0.0:8088"],
      /not a loopback address.*--tls-cert FILE --tls-key FILE.*--insecure-listen/s,
    ],
    [["--listen", "[::]:0"], /--tls-cert.*--insecure-listen/s],
    [["--listen", "192.0.2.1:8088", "--tls-cert", "x.crt"], /--tls-cert and --tls-key go together/],
    [["--listen", "8088"], /--listen must be HOST:PORT/],
    [["--listen", "127.0.0.1:70000"], /not a number from 0 to 65535/],
    [["--broker-ws", "mqtt://127.0.0.1:1883"], /--broker-ws must be a ws:\/\/ or wss:\/\/ URL/],
    [["--broker-ws", "ws://me:secret@127.0.0.1:9001"], /must not carry a user or password/],
    [["--listn", "127.0.0.1:0"], /unknown option --listn \(did you mean --listen\?\)/],
    [["--json"], /--json is not an option of dashboard/],
    [["extra"], /unexpected operand "extra"/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(["dashboard", ...args], { QGA_MQTT_MQTT_URL: "mqtt://127.0.0.1:1" });
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(" "));
    assert.match(result.stderr, /usage: qga-mqtt dashboard \[--listen HOST:PORT\]/, args.join(" "));
    assert.doesNotMatch(result.stderr, /secret/, "a password typed is not repeated");
  }
  const help = await runCli(["--help"]);
  assert.match(help.stdout, /qga-mqtt dashboard \[--listen HOST:PORT\]/);
});
