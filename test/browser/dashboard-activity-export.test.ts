import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { skipWithout } from "../helpers/tools.js";
import { DashboardEnv, launchChromium, withPage as withPageAs } from "./dashboard-env.js";

/**
 * The Activity page's filters and the Run page's "Export JSON", in Debian's Chromium against the demo's
 * set-up (real qemu-ga agents behind the worker CLI, the shipped ACL), found by role as a person's
 * assistive technology would.
 */
const skip = skipWithout("mosquitto", "qemu-ga", "chromium");
let env: DashboardEnv;
let browser: Browser;

before(async () => {
  if (skip) return;
  [env, browser] = await Promise.all([DashboardEnv.start(), launchChromium()]);
});

after(async () => {
  await browser?.close();
  await env?.stop();
});

const withPage = (body: (page: Page) => Promise<void>) => withPageAs(browser, env, "operator", body);

const section = (page: Page, name: string) =>
  page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name });

test("Export JSON saves the grid: one entry per member of the group, with its outcome", {
  skip,
}, async () => {
  await withPage(async (page) => {
    await section(page, "Run on many").click();
    const exportButton = page.getByRole("button", { name: "Export JSON" });
    assert.equal(await exportButton.isDisabled(), true, "nothing to export before a run");
    await page.getByRole("radio", { name: "A group" }).check();
    await page.getByRole("combobox", { name: "Group" }).selectOption("web");
    await page.getByRole("combobox", { name: "Command" }).selectOption("ping");
    await page.getByRole("button", { name: "Run" }).click();
    await page.getByRole("status", { name: "Run status" }).getByText("2 of 2 answered").waitFor();
    const download = page.waitForEvent("download");
    await exportButton.click();
    const file = await download;
    assert.match(file.suggestedFilename(), /^qga-results-[\w-]+\.json$/);
    const saved: unknown = JSON.parse(await readFile((await file.path())!, "utf8"));
    assert.ok(Array.isArray(saved), "an array of rows");
    const rows = saved as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((row) => row.vm).sort(), ["demo1", "demo2"], "one entry per member");
    for (const row of rows) {
      assert.equal(row.outcome, "ok", `${String(row.vm)}'s outcome`);
      assert.equal(typeof row.ms, "number");
      assert.equal(typeof (row.result as { rtt_ms?: unknown } | undefined)?.rtt_ms, "number");
    }
  });
});

test("the Activity page filters by kind and by text", { skip }, async () => {
  await withPage(async (page) => {
    // Two kinds, from the worker as they happen: an audit record of a ping, and an agent going offline.
    await page.goto(`${env.dashboard.url}#/vm/demo1`);
    await page.getByRole("button", { name: "ping", exact: true }).click();
    await page
      .getByRole("status", { name: "Reply" })
      .getByText(/^ping: ok/)
      .waitFor();
    await env.agents.get("demo3")!.kill();
    await section(page, "Activity").click();
    const events = page.getByRole("table", { name: "Events" });
    const rowsOf = (kind: string) =>
      events.getByRole("row").filter({ has: page.getByRole("cell", { name: kind, exact: true }) });
    await rowsOf("agent_offline").first().waitFor();
    await rowsOf("command").first().waitFor();
    assert.match((await rowsOf("command").first().textContent()) ?? "", /demo1.*command: ping.*outcome: ok/);
    assert.match((await rowsOf("agent_offline").first().textContent()) ?? "", /demo3/);

    const kind = page.getByRole("combobox", { name: "Kind" });
    await kind.selectOption("agent_offline");
    await rowsOf("command").first().waitFor({ state: "detached" });
    assert.ok((await rowsOf("agent_offline").count()) >= 1, "the kind chosen stays");
    assert.equal(await rowsOf("command").count(), 0, "the other kind is hidden");

    await kind.selectOption("command");
    await rowsOf("agent_offline").first().waitFor({ state: "detached" });
    assert.ok((await rowsOf("command").count()) >= 1);

    // Any kind again, and the text filter: demo3 went offline, demo1 was pinged.
    await kind.selectOption("");
    await page.getByRole("searchbox", { name: "Filter events" }).fill("demo3");
    await rowsOf("command").first().waitFor({ state: "detached" });
    assert.ok((await rowsOf("agent_offline").count()) >= 1);
    await page.getByRole("searchbox", { name: "Filter events" }).fill("no such event anywhere");
    await page.getByText("No events since this page opened.").waitFor();
    assert.equal(await events.getByRole("row").count(), 1, "the header row only");
  });
});
