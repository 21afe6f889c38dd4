import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { ensureUiBuilt } from "../../src/dashboard/ui-files.js";
import { createLogger } from "../../src/log.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { launchChromium, root, USERS } from "./dashboard-env.js";

/**
 * The console served by the worker itself (`http.ui: true` on a loopback http.listen), in Debian's
 * Chromium: the page under /ui/ finds its config.json and assets relative to itself, reaches the broker
 * (TCP only, no WebSocket listener; the shipped ACL) through the worker's pipe at /ui/mqtt, and logs in
 * with the person's own user, not the worker's.
 */
const skip = skipWithout("mosquitto", "mosquitto_passwd", "chromium");
let dir: string;
let broker: Mosquitto;
let fake: FakeAgent;
let worker: WorkerProcess;
let browser: Browser;
let url: string;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-worker-ui-"));
  const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
  // Built before the worker starts (as the dashboard's tests do), so the first page load waits for no build.
  [broker, , browser] = await Promise.all([
    startMosquitto({ users: { ...USERS }, acl }),
    ensureUiBuilt(root, createLogger("warn")),
    launchChromium(),
  ]);
  fake = await FakeAgent.start({ path: path.join(dir, "web1.sock") });
  worker = await startWorker(
    dir,
    {
      worker: { id: "ui-host" },
      mqtt: { url: broker.url, username: "qga-worker" },
      vms: [{ name: "web1", socket: fake.path, groups: ["web"] }],
      http: { listen: "127.0.0.1:0", ui: true },
    },
    { QGA_MQTT_MQTT_PASSWORD: USERS["qga-worker"] },
  );
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  url = `http://127.0.0.1:${String(listening.port)}/ui/`;
  await worker.waitForLog((line) => line.vm === "web1" && line.msg === "guest agent online");
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await fake?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("the worker's /ui/: log in as operator, the fleet lists the worker's VM online", { skip }, async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  const sockets: string[] = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  try {
    await page.goto(url);
    const form = page.getByRole("form", { name: "Log in to the broker" });
    // The page names where it connects: the worker's own pipe, beside the page.
    await form.getByText(url.replace(/^http/, "ws").replace(/\/$/, "/mqtt")).waitFor();
    await page.getByRole("textbox", { name: "User name" }).fill("operator");
    await page.getByLabel("Password").fill(USERS.operator);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("status", { name: "Connection" }).getByText("connected as operator").waitFor();
    const fleet = page.getByRole("table", { name: "Virtual machines" });
    const row = fleet.getByRole("row").filter({ has: page.getByRole("link", { name: "web1", exact: true }) });
    await row.getByText("online").waitFor();
    assert.deepEqual(await fleet.getByRole("link").allTextContents(), ["web1"]);
    await page.getByRole("link", { name: "Workers" }).click();
    await page
      .getByRole("table", { name: "Workers" })
      .getByRole("row", { name: /ui-host online/ })
      .waitFor();
    assert.deepEqual(sockets, [url.replace(/^http/, "ws").replace(/\/$/, "/mqtt")]);
    assert.deepEqual(errors, [], "the page logged errors (a CSP violation is one)");
  } finally {
    await page.close();
  }
});

test("a wrong password is the broker's refusal, shown on the login form: the worker lends none", {
  skip,
}, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.getByRole("textbox", { name: "User name" }).fill("operator");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Connect" }).click();
    const form = page.getByRole("form", { name: "Log in to the broker" });
    await form.getByText(/the broker refused the login/).waitFor();
  } finally {
    await page.close();
  }
});
