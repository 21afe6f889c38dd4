import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { type ResolvedBroker, resolveBroker } from "../../src/mqtt/local-broker.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { startCli } from "../helpers/cli-process.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * `npm run demo` on a machine without a broker: the worker's embedded aedes (MQTT 3.1.1 only) on the
 * broker address, and a user's `call`, `list`, `watch` with no configuration at all (so asking for MQTT 5).
 * The embedded broker is started here as the worker starts it (resolveBroker), on a port of the test's own.
 */
const HOST = "127.0.0.1";
let dir: string;
let broker: ResolvedBroker;
const agents: FakeAgent[] = [];
const workers: WorkerProcess[] = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-embedded-"));
  const probe = net.createServer().listen(0, HOST);
  await once(probe, "listening");
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  broker = await resolveBroker(undefined, pino({ level: "silent" }), { probe: { host: HOST, port } });
  const names = ["demo1", "demo2", "demo3"];
  for (const name of names) agents.push(await FakeAgent.start({ path: path.join(dir, `${name}.sock`) }));
  // As the worker of `npm run demo` runs it: it started the embedded broker, so it knows it is 3.1.1.
  workers.push(
    await startWorker(dir, {
      worker: { id: "demo" },
      mqtt: { url: broker.url, protocolVersion: 4 },
      vms: names.map((name, i) => ({
        name,
        socket: path.join(dir, `${name}.sock`),
        groups: i === 0 ? ["first"] : ["rest"],
      })),
      policy: { default: ["read"] },
    }),
  );
});

after(async () => {
  for (const worker of workers) await worker.stop();
  for (const agent of agents) await agent.stop();
  await broker?.embedded?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI with the broker's URL and nothing else: what a user of the demo types. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { QGA_MQTT_MQTT_URL: broker.url, ...env });
}

function lines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test("call all works against a 3.1.1-only broker without being told the version", async () => {
  const result = await cli(["call", "all", "guest-ping", "--json", "--timeout", "5"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.deepEqual(
    lines(result.stdout)
      .map((reply) => `${reply.vm}:${reply.ok}`)
      .sort(),
    ["demo1:true", "demo2:true", "demo3:true"],
  );
});

test("call to one VM: its reply is matched by the request id (no Response Topic on 3.1.1)", async () => {
  const result = await cli(["call", "demo2", "guest-ping", "--timeout", "5"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^demo2\s+ok\s/m);
  assert.match(result.stderr, /1 expected, 1 replied: 1 ok/);
});

test("with debug logs, the CLI says it fell back to MQTT 3.1.1", async () => {
  const result = await cli(["list"], { QGA_MQTT_LOG_LEVEL: "debug" });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout + result.stderr, /MQTT 3\.1\.1/);
  assert.match(result.stdout, /^demo1\s+demo\s+online\s+first$/m);
});

test("list and watch work against it too", async (t) => {
  const list = await cli(["list", "--json"]);
  assert.equal(list.code, 0, list.stdout + list.stderr);
  assert.deepEqual(
    lines(list.stdout).map((vm) => vm.name),
    ["demo1", "demo2", "demo3"],
  );
  const watch = startCli(["watch", "demo1"], { QGA_MQTT_MQTT_URL: broker.url });
  t.after(() => watch.stop());
  await watch.line("stdout", (line) => / qga\/demo1\/availability online$/.test(line));
  assert.equal(await watch.stop(), 0, watch.lines.stderr.join("\n"));
});

test("a worker left at MQTT 5 (the default) starts against the 3.1.1-only broker and answers", async () => {
  agents.push(await FakeAgent.start({ path: path.join(dir, "demo4.sock") }));
  const worker = await startWorker(dir, {
    worker: { id: "second" },
    mqtt: { url: broker.url },
    vms: [{ name: "demo4", socket: path.join(dir, "demo4.sock") }],
    policy: { default: ["read"] },
  });
  workers.push(worker);
  const result = await cli(["call", "demo4", "guest-ping", "--json", "--timeout", "5"]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(lines(result.stdout)[0]?.ok, true);
});
