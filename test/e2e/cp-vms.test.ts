// `qga-mqtt cp` as a user runs it against two tiny real VMs (test/vm) in group `web`, served by the worker
// CLI on a real mosquitto: a group put lands in both guests, and a put cut short by the worker's death
// (SIGKILL, the CLI killed with it) resumes after the restart without sending what was acknowledged.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { startCli } from "../helpers/cli-process.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { TestVm } from "../vm/test-vm.js";

const skip = skipWithout("qemu-system-x86_64", "mosquitto");
const base = "qga";
const MiB = 1024 * 1024;
// TCG on 2 shared cores, beside other test files: a boot takes seconds alone, many more when busy.
const BOOT_TIMEOUT_MS = 120_000;
let dir: string;
let broker: Mosquitto;
const vms: TestVm[] = [];
let worker: WorkerProcess;
let config: Record<string, unknown>;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-e2e-cp-"));
  const booting = ["web1", "web2"].map((name) =>
    TestVm.boot({ name: `e2e-cp-${name}`, hostname: name, disk: true, memoryMiB: 320 }),
  );
  const [started, ...booted] = await Promise.all([startMosquitto(), ...booting]);
  broker = started as Mosquitto;
  vms.push(...(booted as TestVm[]));
  await Promise.all(vms.map((vm) => vm.waitForAgent(BOOT_TIMEOUT_MS)));
  config = {
    worker: { id: "e2e-cp" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: vms.map((vm, index) => ({ name: `web${index + 1}`, socket: vm.qgaSocket, groups: ["web"] })),
    policy: { default: ["read", "files", "exec"] },
    restrictions: { default: { files: ["/data", "/tmp"], exec: ["/bin/*"] } },
    status: { intervalSeconds: 60, heartbeatSeconds: 300 },
  };
  worker = await startWorker(dir, config);
  await waitOnline(["web1", "web2"]);
});

after(async () => {
  await worker?.stop();
  await Promise.all(vms.map((vm) => vm.stop()));
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function waitOnline(names: string[]): Promise<void> {
  const client = await TestClient.connect(broker.url);
  try {
    await client.subscribe(`${base}/+/availability`);
    for (const name of names)
      await client.next(`${base}/${name}/availability`, (m) => m.payload.toString() === "online", 60_000);
  } finally {
    await client.close();
  }
}

const env = () => ({ QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_BASE_TOPIC: base });
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const lines = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function localFile(name: string, bytes: number): Promise<{ file: string; content: Buffer }> {
  const content = randomBytes(bytes);
  const file = path.join(dir, name);
  await writeFile(file, content);
  return { file, content };
}

test("a put to group:web lands in both VMs (a line each), and each gets back the same bytes", {
  skip,
}, async () => {
  const { file, content } = await localFile("group.bin", 4 * MiB + 321);
  const put = await runCli(["cp", file, "group:web:/data/group.bin", "--json", "--timeout", "120"], env());
  assert.equal(put.code, 0, put.stdout + put.stderr);
  const byVm = Object.fromEntries(lines(put.stdout).map((line) => [line.vm, line]));
  assert.deepEqual(Object.keys(byVm).sort(), ["web1", "web2"]);
  for (const vm of ["web1", "web2"]) {
    assert.equal(byVm[vm]?.ok, true, JSON.stringify(byVm[vm]));
    assert.equal(byVm[vm]?.sha256, sha256(content));
    const back = path.join(dir, `back-${vm}.bin`);
    const get = await runCli(["cp", `${vm}:/data/group.bin`, back, "--json", "--timeout", "120"], env());
    assert.equal(get.code, 0, get.stdout + get.stderr);
    assert.equal(sha256(await readFile(back)), sha256(content), `${vm}'s copy differs`);
  }
});

test("a put cut short by the worker's SIGKILL resumes after the restart: acknowledged parts are not sent again", {
  skip,
}, async () => {
  const { file, content } = await localFile("resume.bin", 12 * MiB);
  const events = await TestClient.connect(broker.url);
  let acked = 0;
  try {
    await events.subscribe(`${base}/web1/event`);
    const partOk = (m: Received) => {
      const event = events.json(m);
      return event.event === "command" && event.command === "put-part" && event.outcome === "ok";
    };
    const first = startCli(["cp", file, "web1:/tmp/resume.bin", "--json", "--timeout", "120"], env());
    // Two parts acknowledged, then the worker dies mid-transfer, and the CLI with it (nothing cleaned up).
    await events.collect(`${base}/web1/event`, partOk, 2);
    worker.process.kill("SIGKILL");
    await first.stop("SIGKILL");
    acked = events.messages.filter((m) => m.topic === `${base}/web1/event` && partOk(m)).length;
  } finally {
    await events.close();
  }
  worker = await startWorker(dir, config);
  await waitOnline(["web1"]);
  const again = await runCli(["cp", file, "web1:/tmp/resume.bin", "--json", "--timeout", "120"], env());
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const [line] = lines(again.stdout);
  assert.equal(line?.ok, true, JSON.stringify(line));
  assert.equal(line?.sha256, sha256(content));
  const sent = Number(line?.sent);
  // The guest keeps every acknowledged part (and maybe some after): none of them travels again.
  assert.ok(sent <= content.length - acked * MiB, `sent ${sent} again after ${acked} parts acknowledged`);
  assert.ok(sent < content.length, "the second run resumed");
  const back = path.join(dir, "resume-back.bin");
  const get = await runCli(["cp", "web1:/tmp/resume.bin", back, "--json", "--timeout", "120"], env());
  assert.equal(get.code, 0, get.stdout + get.stderr);
  assert.ok((await readFile(back)).equals(content), "the file read back differs");
});
