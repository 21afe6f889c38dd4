import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../src/log.js";
import { chooseLogFormat } from "../../src/log-format.js";

test("the log format: as configured, else pretty on a terminal and JSON otherwise", () => {
  assert.equal(chooseLogFormat(undefined, true), "pretty");
  assert.equal(chooseLogFormat(undefined, false), "json");
  assert.equal(chooseLogFormat("json", true), "json");
  assert.equal(chooseLogFormat("pretty", false), "pretty");
});

/** A logger writing into a string. */
function capture(format: "pretty" | "json") {
  const chunks: string[] = [];
  const log = createLogger("info", { write: (line: string) => void chunks.push(line) }, format);
  return { log, text: () => chunks.join("") };
}

test("pretty: one human line per entry (time, level word, message), secrets still redacted", () => {
  const { log, text } = capture("pretty");
  log.info(
    { url: "mqtt://worker:s3cret@broker:1883", mqtt: { password: "pw-1" } },
    "connected to the broker",
  );
  log.warn("no VMs found yet");
  const lines = text()
    .split("\n")
    .filter((l) => /^\S/.test(l));
  assert.equal(lines.length, 2, text());
  assert.match(lines[0]!, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: connected to the broker$/);
  assert.match(lines[1]!, /^\[[^\]]+\] WARN: no VMs found yet$/);
  assert.match(text(), /mqtt:\/\/worker:\*\*\*@broker:1883/);
  assert.ok(!text().includes("s3cret") && !text().includes("pw-1"), text());
  assert.ok(!text().trimStart().startsWith("{"), "not JSON");
});

test("json: one JSON object per line, as before", () => {
  const { log, text } = capture("json");
  log.info({ mqtt: { password: "pw-2" } }, "hello");
  const entry = JSON.parse(text()) as Record<string, unknown>;
  assert.equal(entry.msg, "hello");
  assert.equal(entry.level, 30);
  assert.ok(!text().includes("pw-2"));
});
