import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/** One `call all` to 1,000 VMs spread over three workers completes with every reply (the bench says how fast). */
const skip = skipWithout("mosquitto");
const VMS = 1000;
const WORKERS = 3;
let dir: string;
let broker: Mosquitto;
const agents: FakeAgent[] = [];
const workers: WorkerProcess[] = [];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-scale-"));
  broker = await startMosquitto();
  const byWorker: Array<Array<{ name: string; socket: string }>> = Array.from({ length: WORKERS }, () => []);
  for (let i = 0; i < VMS; i++) {
    const name = `vm${String(i).padStart(4, "0")}`;
    const socket = path.join(dir, `${name}.sock`);
    agents.push(await FakeAgent.start({ path: socket }));
    byWorker[i % WORKERS]!.push({ name, socket });
  }
  for (const [w, vms] of byWorker.entries()) {
    workers.push(
      await startWorker(
        dir,
        {
          worker: { id: `scale${w}` },
          mqtt: { url: broker.url, baseTopic: "scale" },
          vms,
          status: { intervalSeconds: 3600, heartbeatSeconds: 3600 },
        },
        {},
        90_000,
      ),
    );
  }
});

after(async () => {
  for (const worker of workers) await worker.stop();
  await Promise.all(agents.map((agent) => agent.stop()));
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(`call all reaches ${VMS} VMs on ${WORKERS} workers, every reply back`, {
  skip,
  timeout: 170_000,
}, async () => {
  const { code, stdout, stderr } = await runCli(["call", "all", "guest-ping", "--json", "--timeout", "60"], {
    QGA_MQTT_MQTT_URL: broker.url,
    QGA_MQTT_MQTT_BASE_TOPIC: "scale",
  });
  assert.equal(code, 0, stderr);
  const replies = stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { vm: string; ok: boolean });
  assert.equal(new Set(replies.map((r) => r.vm)).size, VMS);
  assert.equal(replies.filter((r) => r.ok).length, VMS);
});
