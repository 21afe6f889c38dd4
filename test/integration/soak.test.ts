import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { skipWithout } from "../helpers/tools.js";

/**
 * A short soak run (scripts/soak.ts): faults, broker restarts and a worker killed (SIGKILL) and started
 * again, and still nothing lost, nothing run twice (a request in flight at the kill is sent again with its
 * id, as a fleet script would, and answered from the journal).
 */
const skip = skipWithout("mosquitto");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("45 s of load with agent faults, two broker restarts and a worker kill: nothing lost, nothing run twice", {
  skip,
  timeout: 150_000,
}, async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      "--import",
      "tsx",
      "scripts/soak.ts",
      "--minutes",
      "0.75",
      "--vms",
      "10",
      "--rate",
      "50",
      "--kill-every",
      "30",
    ],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  const report = JSON.parse(stdout) as {
    sent: number;
    replied: number;
    lost: number;
    ranTwice: number;
    brokerRestarts: number;
    workerKills: number;
  };
  assert.ok(report.sent > 1000, `only ${report.sent} requests sent`);
  assert.equal(report.brokerRestarts, 2);
  assert.equal(report.workerKills, 1);
  assert.equal(report.lost, 0);
  assert.equal(report.ranTwice, 0);
  assert.equal(report.replied, report.sent);
});
