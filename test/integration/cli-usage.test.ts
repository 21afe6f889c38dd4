import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { runCli } from "../helpers/cli.js";
import { npmEnv } from "../helpers/fresh-copy.js";

/**
 * Usage errors say what is wrong and what to type instead, exit 2, and never run anything: an extra operand
 * (`npm start -- check-config` is `qga-mqtt run check-config`), an unknown option, a --url that is no URL.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);

/** A broker URL nothing answers at: if a usage error were missed, the worker or the client fails fast. */
let nowhere: string;
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-usage-"));
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  nowhere = `mqtt://127.0.0.1:${port}`;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ QGA_MQTT_MQTT_URL: nowhere, QGA_MQTT_STATE_DIR: path.join(dir, "state") });

const usageLines: Record<string, RegExp> = {
  run: /usage: qga-mqtt run \[--config FILE\]/,
  "check-config": /usage: qga-mqtt check-config \[--config FILE\]/,
  call: /usage: qga-mqtt call <vm\|group:NAME\|all> <command> \[--args JSON\]/,
  list: /usage: qga-mqtt list \[--json\]/,
  watch: /usage: qga-mqtt watch \[vm\] \[--json\]/,
  schema: /usage: qga-mqtt schema\b/,
  env: /usage: qga-mqtt env\b/,
};

test("an extra operand is a usage error for every command: exit 2 with that command's usage line", async () => {
  const cases: Array<[string, string[]]> = [
    ["run", ["run", "check-config"]],
    ["check-config", ["check-config", "config/qemu.yaml"]],
    ["call", ["call", "web1", "ping", "extra"]],
    ["list", ["list", "web1"]],
    ["watch", ["watch", "web1", "web2"]],
    ["schema", ["schema", "mqtt"]],
    ["env", ["env", "QGA_MQTT_MQTT_URL"]],
  ];
  for (const [command, args] of cases) {
    const result = await runCli(args, env());
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, usageLines[command]!, `${args.join(" ")}`);
    assert.match(result.stderr, /unexpected operand/);
    assert.equal(result.stdout, "", `${args.join(" ")} printed output`);
  }
});

test("npm start -- check-config --config FILE is refused, and says how to run check-config", async () => {
  const result = await run("npm", ["start", "--", "check-config", "--config", "config/qemu.yaml"], {
    cwd: root,
    env: npmEnv(path.join(dir, "npm-cache"), env()),
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, usageLines.run!);
  assert.match(result.stderr, /npx qga-mqtt check-config --config config\/qemu\.yaml/);
  assert.doesNotMatch(result.stdout, /qga-mqtt starting/);
});

test("an unknown option is named, with the near one, a pointer to --help, and exit 2", async () => {
  const result = await runCli(["list", "--jsn"], env());
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /unknown option --jsn/);
  assert.match(result.stderr, /did you mean --json\?/);
  assert.match(result.stderr, /qga-mqtt --help/);
  // Neither node's parser message nor the whole help.
  assert.doesNotMatch(result.stderr, /To specify a positional argument|qga-mqtt env {2,}/);
  const far = await runCli(["check-config", "--frobnicate"], env());
  assert.equal(far.code, 2);
  assert.match(far.stderr, /unknown option --frobnicate/);
  assert.doesNotMatch(far.stderr, /did you mean/);
});

test("an option the command does not take is a usage error too, naming where it applies", async () => {
  const result = await runCli(["run", "--url", nowhere], env());
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(result.stderr, /--url is not an option of run/);
  assert.match(result.stderr, /QGA_MQTT_MQTT_URL|mqtt\.url/);
});

test("--url without mqtt:// names --url and what it needs, exit 2", async () => {
  const result = await runCli(["list", "--url", "127.0.0.1:1883"], env());
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /--url/);
  assert.match(result.stderr, /mqtt:\/\//);
  assert.match(result.stderr, /mqtt:\/\/127\.0\.0\.1:1883/, "suggests the URL it probably meant");
  assert.doesNotMatch(result.stderr, /configuration \(defaults/);
});

test("a broker URL with a space in the host is refused, on the command line and in the file", async () => {
  const cli = await runCli(["list", "--url", "mqtt://broker host:1883"], env());
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /--url/);
  assert.match(cli.stderr, /"broker host"|host/);
  const fromEnv = await runCli(["check-config"], { QGA_MQTT_MQTT_URL: "mqtt://broker host:1883" });
  assert.equal(fromEnv.code, 1, fromEnv.stdout);
  assert.match(fromEnv.stderr, /mqtt\.url/);
  assert.match(fromEnv.stderr, /not a valid host/);
});
