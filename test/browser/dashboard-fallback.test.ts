import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { type Dashboard, startDashboard } from "../../src/dashboard/server.js";
import { ensureUiBuilt } from "../../src/dashboard/ui-files.js";
import { createLogger } from "../../src/log.js";
import { type ResolvedBroker, resolveBroker } from "../../src/mqtt/local-broker.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { launchChromium, root } from "./dashboard-env.js";

/**
 * The page on a broker that refuses MQTT 5: the worker's embedded broker (aedes, 3.1.1 only), which a first
 * `npm run demo` without mosquitto gets. The page connects again with 3.1.1 and matches replies by id on
 * the VMs' reply topics, as `qga-mqtt call` does.
 */
const skip = skipWithout("chromium");
const log = createLogger("warn");
let dir: string;
let broker: ResolvedBroker;
let agent: FakeAgent;
let worker: WorkerProcess;
let dashboard: Dashboard;
let browser: Browser;

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-dashboard-aedes-"));
  const port = await freePort();
  broker = await resolveBroker(undefined, log, { probe: { host: "127.0.0.1", port } });
  assert.equal(broker.protocolVersion, 4, "an embedded broker");
  agent = await FakeAgent.start({ path: path.join(dir, "solo.sock") });
  [worker, dashboard, browser] = await Promise.all([
    startWorker(dir, {
      worker: { id: "aedes-host" },
      mqtt: { url: broker.url, protocolVersion: 4 },
      vms: [{ name: "solo", socket: agent.path }],
    }),
    ensureUiBuilt(root, log).then((uiDir) =>
      startDashboard({
        listen: { host: "127.0.0.1", port: 0 },
        uiDir,
        route: { kind: "pipe", upstream: { kind: "tcp", host: "127.0.0.1", port }, shown: broker.url },
        config: { brokerUrl: "/mqtt", baseTopic: "qga", version: "test", needsLogin: false },
        machineName: "localhost",
        log,
      }),
    ),
    launchChromium(),
  ]);
});

after(async () => {
  await browser?.close();
  await dashboard?.close();
  await worker?.stop();
  await agent?.stop();
  await broker?.embedded?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("on a broker without MQTT 5 the page falls back to 3.1.1: the fleet shows, a ping is answered", {
  skip,
}, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(dashboard.url);
    const fleet = page.getByRole("table", { name: "Virtual machines" });
    await fleet.getByRole("row").filter({ hasText: "solo" }).getByText("online").waitFor();
    await fleet.getByRole("link", { name: "solo" }).click();
    await page.getByRole("button", { name: "ping", exact: true }).click();
    await page
      .getByRole("status", { name: "Reply" })
      .getByText(/^ping: ok/)
      .waitFor();
    assert.match((await page.getByRole("status", { name: "Reply" }).textContent()) ?? "", /rtt_ms/);
  } finally {
    await page.close();
  }
});
