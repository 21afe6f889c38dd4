import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../src/log.js";

/** A logger writing into an array, one parsed JSON object per line. */
function capture(level = "debug") {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

test("a URL logged under `url`, at any depth or in a child's bindings, has its password replaced", () => {
  const { log, lines } = capture();
  log.info({ url: "mqtt://worker:p@ss@broker:1883" }, "top level");
  log.info({ broker: { url: "ws://worker:pw@[::1]:9001/mqtt" } }, "nested");
  log.info({ config: { mqtt: { url: "mqtt://worker:p%40ss@broker:1883" } } }, "two levels down");
  log.child({ url: "mqtts://worker:secret@broker:8883" }).info("from a binding");
  const text = JSON.stringify(lines);
  for (const secret of ["p@ss", "p%40ss", "secret", ":pw@"]) assert.ok(!text.includes(secret), secret);
  assert.equal(lines[0]?.url, "mqtt://worker:***@broker:1883");
  assert.deepEqual(lines[1]?.broker, { url: "ws://worker:***@[::1]:9001/mqtt" });
  assert.deepEqual(lines[2]?.config, { mqtt: { url: "mqtt://worker:***@broker:1883" } });
  assert.equal(lines[3]?.url, "mqtts://worker:***@broker:8883");
});

test("the broker's password and the key's passphrase never reach a log, whatever holds them", () => {
  const { log, lines } = capture();
  log.info({ mqtt: { password: "pw-1", tls: { keyPassphrase: "kp-1" } } }, "mqtt settings");
  log.info({ config: { mqtt: { password: "pw-2", tls: { keyPassphrase: "kp-2" } } } }, "whole config");
  const text = JSON.stringify(lines);
  for (const secret of ["pw-1", "kp-1", "pw-2", "kp-2"]) assert.ok(!text.includes(secret), secret);
});

test("a URL without a password and values that are not URLs pass unchanged", () => {
  const { log, lines } = capture();
  log.info({ url: "mqtt://127.0.0.1:1883", host: "broker", port: 1883 }, "plain");
  assert.equal(lines[0]?.url, "mqtt://127.0.0.1:1883");
  assert.equal(lines[0]?.host, "broker");
});
