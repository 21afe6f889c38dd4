import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Sweep } from "../../src/mqtt/sweep.js";

const sweepModule = pathToFileURL(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/mqtt/sweep.ts"),
).href;

test("a sweep checks until nothing is left, then stops", async () => {
  // The sweep's own timer keeps nothing alive (see below): this one keeps the test's process running.
  const keepAlive = setInterval(() => {}, 1000);
  let left = 3;
  let checks = 0;
  let sweep: Sweep | undefined;
  const done = new Promise<void>((resolve) => {
    sweep = new Sweep(5, () => {
      checks++;
      if (--left > 0) return true;
      resolve();
      return false;
    });
    sweep.arm();
  });
  assert.equal(sweep?.armed, true);
  await done;
  clearInterval(keepAlive);
  assert.equal(checks, 3);
  // The check that found nothing left stopped the timer before this test resumed.
  assert.equal(sweep?.armed, false);
});

test("an armed sweep does not keep the process alive (a CLI call exits once its work is done)", async () => {
  // The child arms a sweep whose check never ends: it must exit anyway, as soon as nothing else runs.
  const script = `import { Sweep } from ${JSON.stringify(sweepModule)};
new Sweep(1000, () => true).arm();`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: "ignore",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, null, "the process was still alive 20 s later");
  assert.equal(code, 0);
});
