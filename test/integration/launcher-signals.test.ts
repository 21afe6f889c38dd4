import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { npmEnv } from "../helpers/fresh-copy.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";

/**
 * `npm start` and `npx qga-mqtt run` as a user (or a supervisor) runs them: SIGTERM or SIGINT to npm, the
 * launcher, must stop the worker too. npm passes both signals to the process it started; the worker must be
 * that process, not a shell or a tsx watcher left behind as an orphan that keeps the VMs' topics "online".
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const skip = skipWithout("mosquitto");
let broker: Mosquitto;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-launcher-"));
  if (!skip) broker = await startMosquitto();
});

after(async () => {
  if (!skip) await broker.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The processes of a process group, from /proc (pid and command line). */
async function groupMembers(pgid: number): Promise<string[]> {
  const members: string[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // The command name (2nd field) is in parentheses and may hold spaces: the fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [state, , pgrp] = fields;
    if (Number(pgrp) !== pgid || state === "Z") continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    members.push(`${entry} ${cmdline.replaceAll("\0", " ").trim()}`);
  }
  return members;
}

const launchers = {
  "npm start": ["npm", "start"],
  "npx qga-mqtt run": ["npx", "qga-mqtt", "run"],
} as const;

for (const [launcher, command] of Object.entries(launchers)) {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} to ${launcher} stops the worker, which says offline`, { skip }, async (t) => {
      const id = `launcher-${launcher.replace(/\W+/g, "-")}-${signal}`;
      const file = path.join(dir, `${id}.yaml`);
      await writeFile(
        file,
        stringify({
          worker: { id },
          mqtt: { url: broker.url },
          vms: [{ name: "vm1", socket: path.join(dir, "absent.sock") }],
          state: { dir: path.join(dir, "state", id) },
        }),
      );
      const client = await TestClient.connect(broker.url);
      t.after(() => client.client.endAsync());
      const state = `qga/bridge/${id}/state`;
      await client.subscribe(state);
      // Its own process group, as a shell gives a command it starts: whatever npm leaves behind stays in it.
      const [program, ...args] = command;
      const child: ChildProcess = spawn(program, args, {
        cwd: root,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: npmEnv(path.join(dir, "npm-cache"), { QGA_MQTT_CONFIG: file }),
      });
      const pgid = child.pid!;
      let output = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      const exited = once(child, "exit");
      t.after(async () => {
        // Whatever is left of the group (the orphaned worker of a launcher that does not pass signals on).
        if ((await groupMembers(pgid)).length > 0) process.kill(-pgid, "SIGKILL");
      });
      await client.next(state, (m) => m.payload.toString() === "online", 30_000);

      process.kill(pgid, signal);
      await withTimeout(exited, 20_000, `${launcher} did not exit within 20 s of ${signal}:\n${output}`);
      assert.deepEqual(await groupMembers(pgid), [], `left running after ${launcher} exited`);
      await client.next(state, (m) => m.payload.toString() === "offline", 5_000);
      assert.match(output, /"msg":"stopped"|\bstopped\b/, "the worker did not log its stop");
    });
  }
}
