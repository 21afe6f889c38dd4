import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { Config } from "../../src/config/schema.js";
import type { FleetSources } from "../../src/fleet/scan.js";
import { type FleetChange, FleetWatcher } from "../../src/fleet/watcher.js";
import { withTimeout } from "../helpers/wait.js";

/* The fleet over time: sockets and confs appearing and going, fs.watch as the fast path. */

const root = await mkdtemp(path.join(os.tmpdir(), "fleet-watch-"));
after(() => rm(root, { recursive: true, force: true }));

async function listen(file: string): Promise<net.Server> {
  await mkdir(path.dirname(file), { recursive: true });
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(file, resolve));
  return server;
}

function sources(discovery: Record<string, unknown>, vms: unknown[] = []): FleetSources {
  const config = Config.parse({ vms, discovery });
  return { vms: config.vms, globs: config.discovery.globs, proxmox: config.discovery.proxmox };
}

/** A logger whose error lines the test can read. */
function capturingLog(): { log: pino.Logger; errors: string[] } {
  const errors: string[] = [];
  const log = pino(
    { level: "info" },
    {
      write(line: string) {
        const entry = JSON.parse(line) as { level: number; msg: string };
        if (entry.level >= 50) errors.push(entry.msg);
      },
    },
  );
  return { log, errors };
}

/** The next change event, or a failure after `ms`: waits for the event, never sleeps. */
function nextChange(watcher: FleetWatcher, ms = 5_000): Promise<FleetChange> {
  let unsubscribe = () => {};
  const event = new Promise<FleetChange>((resolve) => {
    unsubscribe = watcher.onChange(resolve);
  });
  return withTimeout(event, ms, `no fleet change within ${ms} ms`).finally(() => unsubscribe());
}

const names = (vms: readonly { name: string }[]) => vms.map((vm) => vm.name);

test("glob: a socket appearing is `added` through fs.watch; one disappearing keeps the VM", async () => {
  const base = path.join(root, "glob");
  await mkdir(base, { recursive: true });
  const first = await listen(path.join(base, "web1", "qga.sock"));
  // A period far beyond the test's timeout: only fs.watch can deliver the change in time.
  const watcher = new FleetWatcher({
    sources: sources({ globs: [{ pattern: `${base}/*/qga.sock` }] }, [
      { name: "static1", socket: "/none.sock" },
    ]),
    rescanMs: 600_000,
    debounceMs: 20,
    log: pino({ level: "silent" }),
  });
  const events: FleetChange[] = [];
  watcher.onChange((change) => events.push(change));
  try {
    const start = await watcher.start();
    assert.deepEqual(names(start.added), ["static1", "web1"]);
    assert.deepEqual(events, [], "start's change is returned, not also sent to listeners");

    const changed = nextChange(watcher);
    const second = await listen(path.join(base, "web2", "qga.sock"));
    const change = await changed;
    assert.deepEqual(names(change.added), ["web2"]);
    assert.deepEqual([change.removed, change.changed], [[], []]);

    // The socket goes (VM stopped): the VM stays, so its topics stay and the client reports it offline.
    await new Promise<void>((resolve) => first.close(() => resolve()));
    const after = await watcher.rescan();
    assert.deepEqual(after, { added: [], removed: [], changed: [] });
    assert.deepEqual(names(watcher.current()), ["static1", "web2", "web1"]);
    second.close();
  } finally {
    watcher.stop();
  }
});

test("proxmox: removed conf is `removed`, renamed VM is `removed` + `added`, collisions logged once", async () => {
  const configDir = path.join(root, "pve");
  await mkdir(configDir, { recursive: true });
  await writeFile(path.join(configDir, "101.conf"), "agent: 1\nname: db\n");
  await writeFile(path.join(configDir, "102.conf"), "agent: 1\nname: app\n");
  const { log, errors } = capturingLog();
  const watcher = new FleetWatcher({
    sources: sources({ proxmox: { enabled: true, configDir, socketDir: "/run/qs" } }),
    rescanMs: 600_000,
    debounceMs: 20,
    log,
  });
  try {
    assert.deepEqual(names((await watcher.start()).added), ["db", "app"]);

    // Renamed in the conf: the name is the VM's topics, so the old name goes and the new one comes.
    const renamed = nextChange(watcher);
    await writeFile(path.join(configDir, "102.conf.tmp"), "agent: 1\nname: app2\n");
    await rename(path.join(configDir, "102.conf.tmp"), path.join(configDir, "102.conf"));
    const rename1 = await renamed;
    assert.deepEqual(
      [names(rename1.removed), names(rename1.added), rename1.changed],
      [["app"], ["app2"], []],
    );

    // A second VM claiming "db": refused, logged at error once with both sources, however often we scan.
    await writeFile(path.join(configDir, "103.conf"), "agent: 1\nname: db\n");
    await watcher.rescan();
    await watcher.rescan();
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? "", /proxmox VM 103 .* and proxmox VM 101 .* both name a VM "db"/);

    // VM 101 destroyed: 103 takes the name over; for MQTT that is the same VM at another socket.
    const destroyed = nextChange(watcher);
    await unlink(path.join(configDir, "101.conf"));
    const change = await destroyed;
    assert.deepEqual(names(change.changed), ["db"]);
    assert.equal(change.changed[0]?.address, "/run/qs/103.qga");

    // rescan() as a test would use it instead of the timer; fs.watch may get there first, so the test
    // waits for the one change event, whichever scan delivers it.
    const removed = nextChange(watcher);
    await unlink(path.join(configDir, "103.conf"));
    await watcher.rescan();
    assert.deepEqual(names((await removed).removed), ["db"]);
    assert.deepEqual(names(watcher.current()), ["app2"]);
  } finally {
    watcher.stop();
  }
});

test("rescans never overlap: requests during a scan run one more scan after it", async () => {
  let active = 0;
  let maxActive = 0;
  let scans = 0;
  let release = () => {};
  const watcher = new FleetWatcher({
    sources: sources({}),
    rescanMs: 600_000,
    log: pino({ level: "silent" }),
    scan: async () => {
      active++;
      scans++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      active--;
      return { vms: [], problems: [], folders: [] };
    },
  });
  const first = watcher.rescan();
  const second = watcher.rescan();
  const third = watcher.rescan();
  assert.equal(second, third, "requests during a scan share the one scan after it");
  release();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await Promise.all([second, third]);
  assert.deepEqual({ scans, maxActive }, { scans: 2, maxActive: 1 });
  watcher.stop();
});

test("the periodic rescan is the safety net when no file event comes", async () => {
  const base = path.join(root, "periodic");
  await mkdir(base, { recursive: true });
  // A pattern whose folder does not exist yet cannot be watched: only the timer sees it appear.
  const watcher = new FleetWatcher({
    sources: sources({ globs: [{ pattern: `${base}/later/*.sock` }] }),
    rescanMs: 50,
    log: pino({ level: "silent" }),
  });
  try {
    assert.deepEqual((await watcher.start()).added, []);
    const changed = nextChange(watcher);
    const server = await listen(path.join(base, "later", "vm7.sock"));
    assert.deepEqual(names((await changed).added), ["vm7"]);
    server.close();
  } finally {
    watcher.stop();
  }
});
