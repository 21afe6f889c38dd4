/**
 * `npm run demo`: something real to talk to on a machine without VMs. Starts three local guest agents (the
 * real qemu-ga in unix-listen mode with every command that could change this machine blocked, where it is
 * installed; else the fake agent of the tests), runs the worker for them and prints mosquitto_pub,
 * mosquitto_sub and qga-mqtt lines that work against them, once every agent is online. Ctrl-C stops it all.
 *
 * The broker is the worker's: $QGA_MQTT_MQTT_URL when set, else the one answering on 127.0.0.1:1883, else an
 * embedded one (aedes, MQTT 3.1.1) started there. `npm run demo -- --port N` looks on (and takes) port N
 * instead of 1883, for a machine where 1883 is something else's; the printed lines then carry `-p N`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { App } from "../src/app.js";
import { Config } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { resolveBroker } from "../src/mqtt/local-broker.js";
import { redactUrl } from "../src/net/redact-url.js";
import { packageVersion } from "../src/version.js";
import { FakeAgent } from "../test/fakes/fake-agent.js";
import { startRealAgent } from "../test/helpers/qemu-ga.js";
import { findTool } from "../test/helpers/tools.js";

const { values: options } = parseArgs({
  options: { port: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (options.help) {
  process.stdout.write(
    "npm run demo [-- --port N]: three local guest agents served by the worker, on the broker of\n" +
      "$QGA_MQTT_MQTT_URL, else the one on 127.0.0.1:N (default 1883), else an embedded one started there.\n",
  );
  process.exit(0);
}
const port = options.port === undefined ? 1883 : Number(options.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`--port must be a TCP port, not ${JSON.stringify(options.port)}\n`);
  process.exit(2);
}

const dir = await mkdtemp(path.join(os.tmpdir(), "qga-demo-"));
const names = ["demo1", "demo2", "demo3"];
const baseTopic = "qga";
const real = findTool("qemu-ga") !== undefined && process.getuid?.() === 0;
const stops: Array<() => Promise<void>> = [];
const sockets: string[] = [];
for (const name of names) {
  if (real) {
    const agent = await startRealAgent({ dir: await mkdtemp(path.join(dir, `${name}-`)) });
    stops.push(() => agent.dispose());
    sockets.push(agent.socket);
  } else {
    const fake = await FakeAgent.start({ path: path.join(dir, `${name}.sock`) });
    stops.push(() => fake.stop());
    sockets.push(fake.path);
  }
}

const log = createLogger("warn");
// The worker's own choice of broker (src/mqtt/local-broker.ts), made here so that it can be on another port
// and so that the lines printed below name the broker it made.
const broker = await resolveBroker(process.env.QGA_MQTT_MQTT_URL, log, {
  probe: { host: "127.0.0.1", port },
  baseTopic,
});
if (broker.embedded) stops.unshift(() => broker.embedded?.close() ?? Promise.resolve());

const config = Config.parse({
  worker: { id: "demo" },
  mqtt: {
    url: broker.url,
    baseTopic,
    ...(broker.protocolVersion ? { protocolVersion: broker.protocolVersion } : {}),
  },
  vms: names.map((name, i) => ({ name, socket: sockets[i], groups: i === 0 ? ["first"] : ["rest"] })),
  policy: { default: ["read"] },
  status: { intervalSeconds: 10 },
  log: { level: "warn" },
});
const app = new App({
  loaded: { config, file: undefined, fromEnv: [] },
  log,
  version: packageVersion(),
  env: process.env,
});
await app.start();

/** Resolves once every demo VM's retained availability says online (at most 30 s; then says which are not). */
async function allOnline(): Promise<string[]> {
  const client = await mqtt.connectAsync(broker.url, {
    protocolVersion: broker.protocolVersion ?? config.mqtt.protocolVersion,
    clientId: `qga-mqtt-demo-${process.pid}`,
    reconnectPeriod: 0,
  });
  const online = new Set<string>();
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 30_000);
      client.on("message", (topic, payload) => {
        const vm = topic.split("/")[1] ?? "";
        if (payload.toString() === "online") online.add(vm);
        else online.delete(vm);
        if (names.every((name) => online.has(name))) {
          clearTimeout(timer);
          resolve();
        }
      });
      client.subscribe(`${baseTopic}/+/availability`);
    });
  } finally {
    await client.endAsync();
  }
  return names.filter((name) => !online.has(name));
}
const offline = await allOnline();

// The mosquitto clients' and qga-mqtt's defaults are 127.0.0.1:1883; anything else is said on each line.
const url = new URL(broker.url);
const local = url.hostname === "127.0.0.1" || url.hostname === "localhost";
const brokerPort = url.port === "" ? 1883 : Number(url.port);
const plain = url.protocol === "mqtt:" && url.username === "";
const at = `${local ? "" : ` -h ${url.hostname}`}${brokerPort === 1883 ? "" : ` -p ${brokerPort}`}`;
const env = local && brokerPort === 1883 ? "" : `QGA_MQTT_MQTT_URL=${redactUrl(broker.url)} `;
const agentKind = real
  ? "the real qemu-ga (unix-listen, machine-changing commands blocked)"
  : "the fake agent";
const lines: Array<[string, string]> = [
  [`mosquitto_sub${at} -v -t '${baseTopic}/#'`, "everything"],
  [`mosquitto_pub${at} -t ${baseTopic}/demo1/cmd/ping -m '{"id":"p1"}'`, "ping one agent"],
  [`mosquitto_pub${at} -t ${baseTopic}/demo2/cmd/guest-get-osinfo -m ''`, "a raw guest-agent command"],
  [`mosquitto_pub${at} -t ${baseTopic}/group/all/cmd/status -m '{"id":"s1"}'`, "every VM polls now"],
  [`mosquitto_pub${at} -t ${baseTopic}/demo1/cmd/reboot -m ''`, "refused: forbidden by the policy"],
  [`mosquitto_sub${at} -C 1 -t ${baseTopic}/demo3/status`, "the retained status snapshot"],
  [`${env}npx qga-mqtt call all guest-get-timezone`, "one request to every VM, one table"],
  [`${env}npx qga-mqtt list`, "the fleet"],
];
const width = Math.max(...lines.map(([command]) => command.length)) + 2;
process.stdout.write(`
qga-mqtt demo: 3 VMs (${names.join(", ")}) served by ${agentKind}, base topic ${baseTopic}.
${broker.description.replace(/; watch it with: .*$/, "")}${plain ? "" : "\n(the lines below need your broker's credentials or TLS options added)"}
${offline.length > 0 ? `\nnot online after 30 s: ${offline.join(", ")} (see the worker's warnings above)\n` : ""}
${lines.map(([command, comment]) => `  ${command.padEnd(width)}# ${comment}`).join("\n")}

Ctrl-C stops the demo.
`);

await new Promise<void>((resolve) => {
  process.once("SIGINT", resolve);
  process.once("SIGTERM", resolve);
});
await app.stop(2_000);
for (const stop of stops) await stop();
await rm(dir, { recursive: true, force: true });
process.exit(0);
