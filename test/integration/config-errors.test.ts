import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";

/**
 * A bad configuration is reported so that the person who wrote it can fix it without the docs: each problem
 * by path, with its line in the file (or the variable it came from), the values allowed, and the near key
 * for a misspelt one.
 */
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-config-errors-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(name: string, lines: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return runCli(["check-config", "--config", file], env);
}

test("unknown keys are named by path and line, with the near key", async () => {
  const result = await check("unknown.yaml", [
    "worker:",
    "  id: w1",
    "mqtt:",
    "  basetopic: qga",
    "vms:",
    "  - name: web1",
    "    socket: /run/qemu/web1.sock",
    "    grups: [web]",
    "frobnicate: 1",
  ]);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /unknown key mqtt\.basetopic \(line 4\): did you mean baseTopic\?/);
  assert.match(result.stderr, /unknown key vms\[0\]\.grups \(line 8\): did you mean groups\?/);
  // No near key: the keys allowed there instead.
  assert.match(result.stderr, /unknown key frobnicate \(line 9\)[^\n]*(known keys|one of)[^\n]*mqtt/);
});

test("mqtt.protocolVersion says which values it takes, with its line", async () => {
  const result = await check("protocol.yaml", [
    "mqtt:",
    "  url: mqtt://127.0.0.1:1883",
    "  protocolVersion: 3",
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /mqtt\.protocolVersion \(line 3\): must be 5 \(MQTT 5\) or 4 \(MQTT 3\.1\.1\)/);
  assert.doesNotMatch(result.stderr, /Invalid input/);
});

test("a value from the environment is named by its variable, not a line of the file", async () => {
  const result = await check("env.yaml", ["mqtt:", "  protocolVersion: 5"], {
    QGA_MQTT_MQTT_PROTOCOL_VERSION: "3",
  });
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /mqtt\.protocolVersion \(from QGA_MQTT_MQTT_PROTOCOL_VERSION\): must be 5 \(MQTT 5\) or 4/,
  );
});

test("a VM's connection says its two forms", async () => {
  const result = await check("connection.yaml", [
    "vms:",
    "  - { name: web1, socket: /run/qemu/web1.sock, connection: hld }",
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /vms\[0\]\.connection \(line 2\): must be "hold" or \{ linger: <ms> \}/);
});

test("a broker URL with a space in its host is refused with a clear message", async () => {
  const result = await check("space.yaml", ["mqtt:", '  url: "mqtt://broker host:1883"']);
  assert.equal(result.code, 1, result.stdout);
  assert.match(result.stderr, /mqtt\.url \(line 2\): [^\n]*"broker host" is not a valid host/);
});
