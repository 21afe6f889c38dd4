import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";

/**
 * The worker's log as a person reads it (`log.format: pretty`) or as a collector does (`json`), chosen in
 * the file or by QGA_MQTT_LOG_FORMAT; without either, JSON into a pipe. Every line is written before the
 * process ends, the last one ("could not start") included, and secrets stay redacted in both.
 */
let dir: string;
let nowhere: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-log-format-"));
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  nowhere = `mqtt://worker:s3cret@127.0.0.1:${port}`;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `run` against a broker nothing answers at: it logs its start, then "could not start", and exits 1. */
async function failedRun(format: string | undefined, env: NodeJS.ProcessEnv = {}) {
  const file = path.join(dir, `${format ?? "default"}.yaml`);
  const log = format ? `log: { format: ${format} }\n` : "";
  await writeFile(file, `mqtt: { url: "${nowhere}", password: pw-9 }\nvms: []\n${log}`);
  return runCli(["run", "--config", file], { QGA_MQTT_STATE_DIR: path.join(dir, "state"), ...env });
}

test("log.format: pretty gives human lines: time, level word, message", async () => {
  const result = await failedRun("pretty");
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stdout.split("\n").filter((l) => /^\S/.test(l));
  assert.match(lines[0] ?? "", /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: qga-mqtt starting$/);
  assert.match(result.stdout, /^\[[^\]]+\] FATAL: could not start$/m);
  assert.doesNotMatch(result.stdout, /^\{/m);
  assert.ok(!/s3cret|pw-9/.test(result.stdout + result.stderr), "a secret reached the log");
});

test("log.format: json, QGA_MQTT_LOG_FORMAT, and the default into a pipe give JSON lines", async () => {
  for (const [format, env] of [
    ["json", {}],
    ["pretty", { QGA_MQTT_LOG_FORMAT: "json" }],
    [undefined, {}],
  ] as const) {
    const result = await failedRun(format, env);
    assert.equal(result.code, 1, result.stderr);
    const entries = result.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; level: number });
    assert.equal(entries[0]?.msg, "qga-mqtt starting");
    assert.ok(entries.some((e) => e.msg === "could not start" && e.level === 60));
    assert.ok(!/s3cret|pw-9/.test(result.stdout + result.stderr), "a secret reached the log");
  }
});
