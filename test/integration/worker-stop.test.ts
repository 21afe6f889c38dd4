import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * A stop tells the truth (issue 19, point 4). Before, a worker stopped with SIGTERM left its VMs' retained
 * availability `online`, `list` showed them online and `call all ping` waited its whole timeout for them;
 * after a SIGKILL only the bridge state said `offline` (the will), and the clients did not look at it.
 */
const skip = skipWithout("mosquitto");
const base = "stop";
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];
let live: WorkerProcess;

async function worker(id: string, vm: string): Promise<WorkerProcess> {
  const agent = await FakeAgent.start({ path: path.join(dir, `${vm}.sock`) });
  agents.push(agent);
  return startWorker(dir, {
    worker: { id },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [{ name: vm, socket: agent.path }],
  });
}

function cli(args: string[]) {
  return runCli(args, { QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_BASE_TOPIC: base });
}

function lines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-stop-"));
  broker = await startMosquitto();
  live = await worker("live", "vm-live");
});

after(async () => {
  await live?.stop();
  for (const agent of agents) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const how of ["SIGTERM", "SIGKILL"] as const) {
  test(`after a ${how}, the worker's VMs are unreachable to list and call, at once`, { skip }, async () => {
    const vm = `vm-${how.toLowerCase()}`;
    const watcher = await TestClient.connect(broker.url);
    try {
      await watcher.subscribe([`${base}/${vm}/availability`, `${base}/bridge/${how}/state`]);
      const stopped = await worker(how, vm);
      await watcher.next(`${base}/${vm}/availability`, (m) => m.payload.toString() === "online");
      const down = watcher.upcoming(`${base}/bridge/${how}/state`, (m) => m.payload.toString() === "offline");
      if (how === "SIGTERM") {
        const offline = watcher.upcoming(
          `${base}/${vm}/availability`,
          (m) => m.payload.toString() === "offline",
        );
        assert.equal(await stopped.stop(), 0);
        await offline;
      } else {
        stopped.process.kill("SIGKILL");
      }
      await down;

      const list = await cli(["list", "--json"]);
      const row = lines(list.stdout).find((entry) => entry.name === vm);
      assert.equal(row?.worker_state, "offline", list.stdout);
      assert.match(
        (await cli(["list"])).stdout,
        new RegExp(`^${vm}\\s+${how} \\(offline\\)\\s+unreachable`, "m"),
      );

      // A timeout far beyond the test's own: waiting for the dead worker's VM would fail the test.
      const call = await cli(["call", "all", "ping", "--json", "--timeout", "300"]);
      assert.equal(call.code, 3, call.stdout + call.stderr);
      const replies = lines(call.stdout);
      assert.equal(replies.find((r) => r.vm === "vm-live")?.ok, true, call.stdout);
      const gone = replies.find((r) => r.vm === vm);
      assert.equal((gone?.error as { code?: string } | undefined)?.code, "worker_offline");
      const single = await cli(["call", vm, "ping", "--json", "--timeout", "300"]);
      assert.equal(single.code, 3);
      assert.equal((lines(single.stdout)[0]?.error as { code?: string } | undefined)?.code, "worker_offline");
    } finally {
      await watcher.close();
    }
  });
}
