/**
 * `npm run screenshots`: PNGs of the dashboard for the README (docs/screenshots/), taken in headless
 * Chromium against the browser tests' set-up (test/browser/dashboard-env.ts): real qemu-ga agents and a
 * fake guest that runs programs, the worker CLI, mosquitto under the shipped ACL, the dashboard's pipe.
 * Needs mosquitto, qemu-ga (run as root) and /usr/bin/chromium.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Page } from "playwright-core";
import { DashboardEnv, EXEC_PROGRAM, FAKE_VM, launchChromium, root } from "../test/browser/dashboard-env.js";

const out = path.join(root, "docs/screenshots");
await mkdir(out, { recursive: true });
const env = await DashboardEnv.start();
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 820 }, colorScheme: "light" });
  await env.login(page, "operator");
  const shot = async (name: string, target: Page = page) => {
    await target.screenshot({ path: path.join(out, name), fullPage: name !== "fleet.png" });
    process.stdout.write(`wrote docs/screenshots/${name}\n`);
  };

  const fleet = page.getByRole("table", { name: "Virtual machines" });
  await fleet.getByRole("row").filter({ hasText: FAKE_VM }).getByText("online").waitFor();
  await shot("fleet.png");

  // A few statuses (every 2 s here) so the charts have lines, and a reply under the buttons.
  await page.goto(`${env.dashboard.url}#/vm/demo2`);
  await page.getByRole("heading", { name: "demo2", level: 1 }).waitFor();
  // `status` polls now and republishes the snapshot: a few readings for the charts.
  for (let i = 0; i < 4; i++) {
    await page.getByRole("button", { name: "status", exact: true }).click();
    await page
      .getByRole("status", { name: "Reply" })
      .getByText(/^status: ok/)
      .waitFor();
    await page.waitForTimeout(1_500);
  }
  await page.getByRole("button", { name: "ping", exact: true }).click();
  await page
    .getByRole("status", { name: "Reply" })
    .getByText(/^ping: ok/)
    .waitFor();
  await shot("vm.png");

  env.guest.program = () => ({
    out: " 21:04:11 up 12 days,  3:02,  2 users,  load average: 0.08, 0.03, 0.01\n",
    exitcode: 0,
    runMs: 20,
  });
  await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
  await page.getByRole("textbox", { name: "Program" }).fill(EXEC_PROGRAM);
  await page.getByRole("textbox", { name: "Arguments" }).fill("");
  await page.getByRole("button", { name: "Run" }).click();
  await page
    .getByRole("status", { name: "Exec result" })
    .getByText(/exit code/)
    .waitFor();
  await page.getByRole("heading", { name: "Exec" }).scrollIntoViewIfNeeded();
  await page.getByRole("region", { name: "Exec" }).screenshot({ path: path.join(out, "exec.png") });
  process.stdout.write("wrote docs/screenshots/exec.png\n");

  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Run on many" }).click();
  await page.getByRole("combobox", { name: "Command" }).selectOption("guest-get-timezone");
  await page.getByRole("button", { name: "Run" }).click();
  await page.getByRole("status", { name: "Run status" }).getByText("4 of 4 answered").waitFor();
  await shot("run-on-many.png");
} finally {
  await browser.close();
  await env.stop();
}
