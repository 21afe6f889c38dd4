import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * `qga-mqtt call`, `list` as a script runs them: the CLI against two workers on one mosquitto, each
 * serving fake agents in groups, plus a VM whose worker is gone.
 */
const skip = skipWithout("mosquitto");
const _run = promisify(execFile);
const base = "fleet";
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];
const workers: WorkerProcess[] = [];

const layout = {
  w1: [
    { name: "web1", groups: ["web"] },
    { name: "db1", groups: ["db"] },
  ],
  w2: [
    { name: "web2", groups: ["web"] },
    { name: "db2", groups: ["db"] },
  ],
};

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-call-"));
  broker = await startMosquitto();
  for (const [worker, vms] of Object.entries(layout)) {
    for (const vm of vms) agents.push(await FakeAgent.start({ path: path.join(dir, `${vm.name}.sock`) }));
    workers.push(
      await startWorker(dir, {
        worker: { id: worker },
        mqtt: { url: broker.url, baseTopic: base },
        vms: vms.map((vm) => ({ ...vm, socket: path.join(dir, `${vm.name}.sock`) })),
        policy: { default: ["read"], vms: { db2: ["guest-ping"] } },
      }),
    );
  }
});

after(async () => {
  for (const worker of workers) await worker.stop();
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(args, { QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_BASE_TOPIC: base, ...env });
}

function lines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test("list prints the fleet from every worker's retained info", { skip }, async () => {
  const result = await cli(["list", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const vms = lines(result.stdout);
  assert.deepEqual(
    vms.map((vm) => `${vm.name}@${vm.worker}`),
    ["db1@w1", "db2@w2", "web1@w1", "web2@w2"],
  );
});

for (const protocol of ["5", "4"]) {
  test(`call all: one reply per VM across workers, exit 0 (MQTT ${protocol === "5" ? "5" : "3.1.1"})`, {
    skip,
  }, async () => {
    const result = await cli(["call", "all", "guest-ping", "--json", "--timeout", "5"], {
      QGA_MQTT_MQTT_PROTOCOL_VERSION: protocol,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const replies = lines(result.stdout);
    assert.deepEqual(replies.map((r) => r.vm).sort(), ["db1", "db2", "web1", "web2"]);
    assert.ok(replies.every((r) => r.ok === true && r.command === "guest-ping"));
  });
}

test("call group:web reaches only the group's members", { skip }, async () => {
  const result = await cli(["call", "group:web", "guest-get-host-name", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    lines(result.stdout)
      .map((r) => r.vm)
      .sort(),
    ["web1", "web2"],
  );
});

test("a partial failure exits 1, with a table for people", { skip }, async () => {
  // db2's policy allows only guest-ping.
  const result = await cli(["call", "group:db", "guest-get-osinfo"]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /^VM\s+OK\s+MS\s+RESULT/m);
  assert.match(result.stdout, /^db1\s+ok\s/m);
  assert.match(result.stdout, /^db2\s+FAIL\s.*forbidden/m);
  assert.match(result.stderr, /2 expected, 2 replied: 1 ok, 1 failed, 0 no reply/);
});

test("a VM its worker lists but nobody answers for exits 3, named in the output", { skip }, async (t) => {
  // A worker that published its info and is alive by its state, but never answers (hung, partitioned).
  const silent = await TestClient.connect(broker.url);
  const info = `${base}/bridge/w9/info`;
  const state = `${base}/bridge/w9/state`;
  t.after(async () => {
    await silent.publish(info, "", { retain: true });
    await silent.publish(state, "", { retain: true });
    await silent.close();
  });
  await silent.publish(info, JSON.stringify({ vms: [{ name: "ghost", groups: [], agent: "online" }] }), {
    retain: true,
  });
  await silent.publish(state, "online", { retain: true });
  const result = await cli(["call", "ghost", "ping", "--timeout", "0.5", "--json"]);
  assert.equal(result.code, 3, result.stdout + result.stderr);
  assert.deepEqual(lines(result.stdout), [
    {
      vm: "ghost",
      command: "ping",
      ok: false,
      error: { code: "no_reply", message: "no reply within 0.5 s (is the worker serving ghost running?)" },
    },
  ]);
});

test("a VM no worker serves is a usage error at once, the known VMs listed, the near match first", {
  skip,
}, async () => {
  const started = performance.now();
  // No --timeout: the default 30 s, which the old client waited out before printing an empty table.
  const result = await cli(["call", "web3", "ping"]);
  const waited = performance.now() - started;
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^web3 is not served by any worker; known: web1, web2, db1, db2$/m);
  assert.ok(waited < 15_000, `took ${waited.toFixed(0)} ms: it waited for replies that cannot come`);
});

test("a group no VM is in is a usage error at once, the known groups listed, the near match first", {
  skip,
}, async () => {
  const result = await cli(["call", "group:wbe", "ping", "--json"]);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^no VM is in group wbe; known groups: web, db$/m);
});

test("with no worker on the base topic, call all and call VM say so at once", { skip }, async () => {
  const env = { QGA_MQTT_MQTT_BASE_TOPIC: "nobody" };
  const hint =
    /^no worker has published its info on nobody\/bridge\/\+\/info: is a worker running against this broker and base topic\?$/m;
  for (const target of ["all", "web1", "group:web"]) {
    const result = await cli(["call", target, "ping"], env);
    assert.equal(result.code, 2, `${target}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, hint, target);
  }
});

test("--args are passed and validated by the worker; bad usage exits 2; no broker exits 4", {
  skip,
}, async () => {
  const bad = await cli(["call", "web1", "guest-file-read", "--args", '{"handle":"x"}', "--json"]);
  assert.equal(bad.code, 1);
  assert.equal((lines(bad.stdout)[0]?.error as { code?: string } | undefined)?.code, "forbidden");
  assert.equal((await cli(["call", "web1"])).code, 2);
  assert.equal((await cli(["call", "a/b", "ping"])).code, 2);
  assert.equal((await cli(["call", "web1", "ping", "--args", "[1]"])).code, 2);
  const nobroker = await cli(["call", "web1", "ping"], { QGA_MQTT_MQTT_URL: "mqtt://127.0.0.1:1" });
  assert.equal(nobroker.code, 4);
  assert.match(nobroker.stderr, /cannot reach the MQTT broker/);
});
