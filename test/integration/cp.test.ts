import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FakeAgent } from "../fakes/fake-agent.js";
import { FakeGuest } from "../fakes/fake-guest.js";
import { runCli } from "../helpers/cli.js";
import { startCli } from "../helpers/cli-process.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { type Received, TestClient } from "../helpers/mqtt-client.js";
import { type RealAgent, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * `qga-mqtt cp` as a user runs it: the CLI against a worker on a mosquitto, serving the real qemu-ga
 * (`real`: guest-file-open and guest-exec enabled, but the worker's restrictions confine the files to a
 * temporary folder and exec to mv, chmod and rm) and a fake agent (`fake`) whose guest keeps files in
 * memory and whose mv renames there; both in group `web`. The real agent's guest is this machine: what it
 * wrote is checked on disk.
 */
const skip = skipWithout("mosquitto", "qemu-ga");
const base = "cp";
let dir: string;
/** The folder the VMs' files may be in (restrictions.files); on this machine, for the real agent. */
let data: string;
let broker: Mosquitto;
let real: RealAgent;
/** A real agent with guest-exec blocked: no rename in the guest, so only an in-place put works there. */
let noexec: RealAgent;
let fake: FakeAgent;
let worker: WorkerProcess;
let config: Record<string, unknown>;
const guest = new FakeGuest();

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-cp-"));
  data = path.join(dir, "data");
  await mkdir(data);
  broker = await startMosquitto();
  real = await startRealAgent({ allow: ["guest-file-open", "guest-exec"] });
  noexec = await startRealAgent({ allow: ["guest-file-open"] });
  // mv in the fake guest: renames in its in-memory files.
  guest.program = ({ path: program, args }) => {
    const [from, to] = args.filter((arg) => !arg.startsWith("-"));
    if (program !== "/bin/mv" || from === undefined || to === undefined) return { exitcode: 0 };
    const content = guest.files.get(from);
    if (!content) return { exitcode: 1, err: `mv: cannot stat '${from}'` };
    guest.files.set(to, content);
    guest.files.delete(from);
    return { exitcode: 0 };
  };
  fake = await FakeAgent.start({ path: path.join(dir, "fake.sock"), commands: guest.commands() });
  config = {
    worker: { id: "w1" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: [
      { name: "real", socket: real.socket, groups: ["web"] },
      { name: "fake", socket: fake.path, groups: ["web"] },
      { name: "noexec", socket: noexec.socket },
    ],
    policy: { default: ["read", "files"] },
    restrictions: { default: { files: [data], exec: ["/bin/mv", "/bin/chmod", "/bin/rm"] } },
  };
  worker = await startWorker(dir, config);
});

after(async () => {
  await worker?.stop();
  await fake?.stop();
  await real?.dispose();
  await noexec?.dispose();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = () => ({ QGA_MQTT_MQTT_URL: broker.url, QGA_MQTT_MQTT_BASE_TOPIC: base });

function cli(args: string[]) {
  return runCli(args, env());
}

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

async function localFile(name: string, bytes: number): Promise<{ file: string; content: Buffer }> {
  const content = randomBytes(bytes);
  const file = path.join(dir, name);
  await writeFile(file, content);
  return { file, content };
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test("a put of a few MiB lands whole in the guest, and a get brings it back", { skip }, async () => {
  const { file, content } = await localFile("three.bin", 3 * 1024 * 1024 + 12_345);
  const target = path.join(data, "three.bin");
  const put = await cli(["cp", file, `real:${target}`, "--json"]);
  assert.equal(put.code, 0, put.stdout + put.stderr);
  const [line, ...more] = jsonLines(put.stdout);
  assert.equal(more.length, 0);
  assert.deepEqual(
    { ...line, ms: 0 },
    {
      vm: "real",
      ok: true,
      bytes: content.length,
      sha256: sha256(content),
      ms: 0,
      path: target,
      sent: content.length,
    },
  );
  assert.equal(sha256(await readFile(target)), sha256(content), "the guest's file differs");

  const back = path.join(dir, "back");
  await mkdir(back);
  // A folder as the destination: the file keeps its name.
  const get = await cli(["cp", `real:${target}`, `${back}/`, "--json"]);
  assert.equal(get.code, 0, get.stdout + get.stderr);
  assert.equal(jsonLines(get.stdout)[0]?.sha256, sha256(content));
  assert.ok((await readFile(path.join(back, "three.bin"))).equals(content), "the file got back differs");
});

test("a put to a group puts the file to each member, a line each", { skip }, async () => {
  const { file, content } = await localFile("motd", 70_000);
  const target = path.join(data, "motd");
  const result = await cli(["cp", file, `group:web:${target}`]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^VM\s+OK\s+MS\s+RESULT/m);
  assert.match(result.stdout, /^fake\s+ok\s/m);
  assert.match(result.stdout, /^real\s+ok\s/m);
  assert.match(result.stderr, /2 expected, 2 replied: 2 ok, 0 failed, 0 no reply/);
  assert.equal(sha256(await readFile(target)), sha256(content));
  assert.equal(sha256(guest.files.get(target) ?? Buffer.alloc(0)), sha256(content), "the fake guest's file");
});

test("an interrupted put resumes when run again: fewer bytes are sent the second time", {
  skip,
}, async () => {
  const { file, content } = await localFile("resume.bin", 8 * 1024 * 1024);
  const target = path.join(data, "resume.bin");
  const events = await TestClient.connect(broker.url);
  try {
    const parts = `${base}/real/cmd/put-part`;
    await events.subscribe([`${base}/real/event`, parts]);
    const first = startCli(["cp", file, `real:${target}`, "--json"], env());
    const partDone = (m: Received) => {
      const event = events.json(m);
      return event.event === "command" && event.command === "put-part";
    };
    // The first acknowledged part, as the worker's event topic shows it: then the CLI dies (no clean-up).
    await events.next(`${base}/real/event`, (m) => partDone(m) && events.json(m).outcome === "ok");
    await first.stop("SIGKILL");
    // The parts it had in flight are still written by the worker: the second run starts after them, so
    // what it sends depends on nothing but what the guest has.
    const sent = events.messages.filter((m) => m.topic === parts).length;
    await events.collect(`${base}/real/event`, partDone, sent);
  } finally {
    await events.close();
  }
  const again = await cli(["cp", file, `real:${target}`, "--json"]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const [line] = jsonLines(again.stdout);
  assert.equal(line?.ok, true);
  assert.equal(line?.bytes, content.length);
  assert.ok(
    typeof line?.sent === "number" && line.sent < content.length,
    `sent ${line?.sent} of ${content.length}`,
  );
  assert.equal(sha256(await readFile(target)), sha256(content), "the guest's file differs");
});

test("a path outside restrictions.files fails for that VM: exit 1, forbidden in its line", {
  skip,
}, async () => {
  const { file } = await localFile("nope", 10);
  const result = await cli(["cp", file, "real:/etc/qga-mqtt-cp-test"]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /^real\s+FAIL\s.*forbidden/m);
  const json = await cli(["cp", file, "real:/etc/qga-mqtt-cp-test", "--json"]);
  assert.equal(json.code, 1);
  assert.equal((jsonLines(json.stdout)[0]?.error as { code?: string })?.code, "forbidden");
});

test("command lines that cannot work are usage errors (exit 2) saying what to type", { skip }, async () => {
  const { file } = await localFile("usage.txt", 10);
  const cases: Array<[string[], RegExp]> = [
    [["cp", file, path.join(dir, "copy")], /neither .* is in a VM.*VM:\/path/],
    [["cp", "real:/a", "fake:/b"], /both .* are in VMs/],
    [["cp", "group:web:/etc/motd", dir], /cannot get a file from group web.*qga-mqtt cp web1:\/etc\/motd/],
    [["cp", "all:/etc/motd", dir], /cannot get a file from all VMs/],
    [["cp", file, "we+b:/tmp/x"], /"we\+b:\/tmp\/x": .*not a VM name/],
    [["cp", file, "real:"], /names no file in the guest/],
    [["cp", path.join(dir, "missing"), "real:/tmp/x"], /cannot read .*missing: no such file/],
    [["cp", file, "real:/tmp/x", "--mode", "rw"], /--mode must be an octal file mode/],
    [["cp", file], /needs 2 operands/],
  ];
  for (const [args, message] of cases) {
    const result = await cli(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message, args.join(" "));
    assert.match(result.stderr, /usage: qga-mqtt cp SRC DST/, args.join(" "));
    assert.equal(result.stdout, "");
  }
  const unknown = await cli(["cp", file, "reel:/tmp/x"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /reel is not served by any worker; known: real/);
});

test("without guest-exec in the guest a put is refused and says --in-place; with it the file is written", {
  skip,
}, async () => {
  const { file, content } = await localFile("inplace.bin", 2 * 1024 * 1024 + 7);
  const target = path.join(data, "inplace.bin");
  const refused = await cli(["cp", file, `noexec:${target}`, "--json"]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  const [line] = jsonLines(refused.stdout);
  const error = line?.error as { code: string; message: string } | undefined;
  assert.equal(error?.code, "unsupported");
  assert.match(error?.message ?? "", /--in-place/);
  const done = await cli(["cp", file, `noexec:${target}`, "--in-place", "--json"]);
  assert.equal(done.code, 0, done.stdout + done.stderr);
  assert.equal(sha256(await readFile(target)), sha256(content));
  const left = (await readdir(data)).filter(
    (name) => name.includes("inplace.bin") && name.endsWith(".qga-part"),
  );
  assert.deepEqual(left, [], "no temporary file");
});

test("--in-place is for a put: a get with it is a usage error", { skip }, async () => {
  const result = await cli(["cp", `real:${path.join(data, "x")}`, dir, "--in-place"]);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /--in-place is for a put/);
});

test("an in-place put cut short by the worker's SIGKILL resumes after the restart from what it acknowledged", {
  skip,
}, async () => {
  const MiB = 1024 * 1024;
  const { file, content } = await localFile("in-place-resume.bin", 8 * MiB);
  const target = path.join(data, "in-place-resume.bin");
  const command = ["cp", file, `noexec:${target}`, "--in-place", "--json"];
  const events = await TestClient.connect(broker.url);
  let acked = 0;
  try {
    await events.subscribe(`${base}/noexec/event`);
    const partOk = (m: Received) => {
      const event = events.json(m);
      return event.event === "command" && event.command === "put-part" && event.outcome === "ok";
    };
    const first = startCli(command, env());
    // Two parts acknowledged, then the worker dies mid-transfer, and the CLI with it (nothing cleaned up).
    await events.collect(`${base}/noexec/event`, partOk, 2);
    worker.process.kill("SIGKILL");
    await first.stop("SIGKILL");
    acked = events.messages.filter((m) => m.topic === `${base}/noexec/event` && partOk(m)).length;
  } finally {
    await events.close();
  }
  worker = await startWorker(dir, config);
  const watcher = await TestClient.connect(broker.url);
  try {
    await watcher.subscribe(`${base}/noexec/availability`);
    await watcher.next(`${base}/noexec/availability`, (m) => m.payload.toString() === "online");
  } finally {
    await watcher.close();
  }
  const again = await cli(command);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const [line] = jsonLines(again.stdout);
  assert.equal(line?.ok, true, JSON.stringify(line));
  const sent = Number(line?.sent);
  // The worker's state folder has what it acknowledged: none of it travels again.
  assert.ok(sent <= content.length - acked * MiB, `sent ${sent} again after ${acked} parts acknowledged`);
  assert.equal(sha256(await readFile(target)), sha256(content), "the guest's file differs");
});
