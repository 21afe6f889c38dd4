/**
 * `npm run demo`: something real to talk to on a machine without VMs. Starts three local guest agents (the
 * real qemu-ga in unix-listen mode with every command that could change this machine blocked, where it is
 * installed; else the fake agent of the tests), runs the worker for them on the local or an embedded
 * broker, and prints mosquitto_pub/mosquitto_sub lines that work against them. Ctrl-C stops it all.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { App } from "../src/app.js";
import { Config } from "../src/config/schema.js";
import { createLogger } from "../src/log.js";
import { packageVersion } from "../src/version.js";
import { FakeAgent } from "../test/fakes/fake-agent.js";
import { startRealAgent } from "../test/helpers/qemu-ga.js";
import { findTool } from "../test/helpers/tools.js";

const dir = await mkdtemp(path.join(os.tmpdir(), "qga-demo-"));
const names = ["demo1", "demo2", "demo3"];
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

const config = Config.parse({
  worker: { id: "demo" },
  ...(process.env.QGA_MQTT_MQTT_URL ? { mqtt: { url: process.env.QGA_MQTT_MQTT_URL } } : {}),
  vms: names.map((name, i) => ({ name, socket: sockets[i], groups: i === 0 ? ["first"] : ["rest"] })),
  policy: { default: ["read"] },
  status: { intervalSeconds: 10 },
  log: { level: "warn" },
});
const log = createLogger(config.log.level);
const app = new App({
  loaded: { config, file: undefined, fromEnv: [] },
  log,
  version: packageVersion(),
  env: process.env,
});
await app.start();

const agentKind = real
  ? "the real qemu-ga (unix-listen, machine-changing commands blocked)"
  : "the fake agent";
process.stdout.write(`
qga-mqtt demo: 3 VMs (${names.join(", ")}) served by ${agentKind}, base topic qga.

  mosquitto_sub -v -t 'qga/#'                                     # everything
  mosquitto_pub -t qga/demo1/cmd/ping -m '{"id":"p1"}'           # ping one agent
  mosquitto_pub -t qga/demo2/cmd/guest-get-osinfo -m ''          # a raw guest-agent command
  mosquitto_pub -t qga/group/all/cmd/status -m '{"id":"s1"}'     # every VM polls now
  mosquitto_pub -t qga/demo1/cmd/reboot -m ''                    # refused: forbidden by the policy
  mosquitto_sub -C 1 -t qga/demo3/status                          # the retained status snapshot

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
