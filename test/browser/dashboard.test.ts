import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { skipWithout } from "../helpers/tools.js";
import { waitUntil } from "../helpers/wait.js";
import {
  DashboardEnv,
  EXEC_PROGRAM,
  FAKE_VM,
  launchChromium,
  REAL_VMS,
  withPage as withPageAs,
} from "./dashboard-env.js";

/**
 * The dashboard in Debian's Chromium, headless, driven by Playwright through role selectors: the demo's
 * worker with real qemu-ga agents (and a fake guest for exec), the shipped ACL, `startDashboard`'s pipe.
 * One browser, one worker, one broker for the file; each test opens its own page.
 */
const skip = skipWithout("mosquitto", "qemu-ga", "chromium");
let env: DashboardEnv;
let browser: Browser;
const ALL = [...REAL_VMS.map((vm) => vm.name), FAKE_VM];

before(async () => {
  if (skip) return;
  [env, browser] = await Promise.all([DashboardEnv.start(), launchChromium()]);
});

after(async () => {
  await browser?.close();
  await env?.stop();
});

const withPage = (user: "operator" | "viewer", body: (page: Page) => Promise<void>) =>
  withPageAs(browser, env, user, body);

/** Whether the element has the keyboard focus (the tests' file has no DOM types: asked through the element). */
const isFocused = (locator: Locator) =>
  locator.evaluate((element) => element === element.ownerDocument.activeElement);
const fleet = (page: Page) => page.getByRole("table", { name: "Virtual machines" });
const row = (page: Page, vm: string) =>
  fleet(page)
    .getByRole("row")
    .filter({ has: page.getByRole("link", { name: vm, exact: true }) });

test("the fleet shows every VM with what its status says", { skip }, async () => {
  await withPage("operator", async (page) => {
    for (const vm of ALL) await row(page, vm).getByText("online").waitFor();
    // The real agents report this machine: its host name and a filesystem.
    await row(page, "demo1").getByText("%").first().waitFor();
    const search = page.getByRole("searchbox", { name: "Search VMs" });
    await search.fill("demo2");
    await page.getByText("1 of 4 shown").waitFor();
    assert.equal(await fleet(page).getByRole("link").count(), 1);
    await search.fill("");
    // The fake guest reports no filesystems: "disk over 1 %" keeps the three real agents.
    await page.getByRole("spinbutton", { name: "Disk over %" }).fill("1");
    await page.getByText("3 of 4 shown").waitFor();
    await page.getByRole("spinbutton", { name: "Disk over %" }).fill("");
    await page.getByRole("combobox", { name: "Group" }).selectOption("web");
    await page.getByText("2 of 4 shown").waitFor();
    await page.getByRole("combobox", { name: "Group" }).selectOption("");
    // Sorting: the VM column's header button turns the order around.
    await page.getByRole("columnheader", { name: /VM/ }).getByRole("button").click();
    assert.deepEqual(await fleet(page).getByRole("link").allTextContents(), [
      "lab1",
      "demo3",
      "demo2",
      "demo1",
    ]);
    await page.getByRole("link", { name: "Workers" }).click();
    const workers = page.getByRole("table", { name: "Workers" });
    await workers.getByRole("row", { name: /dash-host online/ }).waitFor();
  });
});

test("an agent stopped turns its row offline within 5 s", { skip }, async () => {
  await withPage("operator", async (page) => {
    await row(page, "demo3").getByText("online").waitFor();
    const started = Date.now();
    await env.agents.get("demo3")!.kill();
    await row(page, "demo3").getByText("offline").waitFor({ timeout: 5_000 });
    const ms = Date.now() - started;
    assert.ok(ms < 5_000, `${ms} ms`);
    await page.getByText(/offline 1/).waitFor();
    await page.getByRole("combobox", { name: "State" }).selectOption("offline");
    await page.getByText("1 of 4 shown").waitFor();
    assert.deepEqual(await fleet(page).getByRole("link").allTextContents(), ["demo3"]);
  });
});

test("a button sends its verb and shows the reply; a forbidden verb has no button", { skip }, async () => {
  await withPage("operator", async (page) => {
    await row(page, "demo1").getByRole("link", { name: "demo1" }).click();
    await page.getByRole("heading", { name: "demo1", level: 1 }).waitFor();
    await page.getByRole("button", { name: "ping", exact: true }).click();
    const reply = page.getByRole("status", { name: "Reply" });
    await reply.getByText(/^ping: ok/).waitFor();
    assert.match((await reply.textContent()) ?? "", /rtt_ms/);
    // As `qga-mqtt call` does: MQTT 5, a response topic of the caller's own, correlation data = the id.
    await waitUntil("the reply on the page's response topic", 5_000, async () =>
      env.observer.messages.some((m) => m.topic.endsWith("/replies") && m.payload.includes('"vm":"demo1"')),
    );
    const sent = env.observer.messages.find(
      (m) => m.topic.endsWith("/replies") && m.payload.includes('"vm":"demo1"'),
    )!;
    assert.match(sent.topic, /^qga\/bridge\/qga-dashboard-[0-9a-f]+\/replies$/);
    assert.equal(sent.correlationData?.toString(), env.observer.json(sent).id);
    // demo1's policy is read: no power buttons; demo2's includes power.
    assert.equal(await page.getByRole("button", { name: "reboot" }).count(), 0);
    await page.goto(`${env.dashboard.url}#/vm/demo2`);
    await page.getByRole("button", { name: "reboot" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Run" }).count(), 0, "no exec console without exec");
  });
});

test("a power verb asks first; keyboard: Tab to a button, Enter, Escape closes the dialog", {
  skip,
}, async () => {
  await withPage("operator", async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/demo2`);
    const reboot = page.getByRole("button", { name: "reboot" });
    await reboot.waitFor();
    await page.getByRole("button", { name: "status" }).focus();
    // Tab from the button before it in the same row: ping, status, reboot (sync-time etc. are not allowed).
    await page.keyboard.press("Tab");
    assert.equal(await isFocused(reboot), true);
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Confirm reboot" });
    await dialog.waitFor();
    assert.equal(await isFocused(dialog.getByRole("button", { name: "Cancel" })), true);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await isFocused(reboot), true, "focus returns");
    assert.equal(await page.getByRole("status", { name: "Reply" }).textContent(), "", "nothing was sent");
    // Enter on ping from the keyboard sends it.
    await page.getByRole("button", { name: "ping" }).focus();
    await page.keyboard.press("Enter");
    await page
      .getByRole("status", { name: "Reply" })
      .getByText(/^ping: ok/)
      .waitFor();
  });
});

test("the exec console shows output, stderr, exit code and time", { skip }, async () => {
  await withPage("operator", async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
    await page.getByRole("textbox", { name: "Program" }).fill(EXEC_PROGRAM);
    await page.getByRole("textbox", { name: "Arguments" }).fill("--all\n-v");
    await page.getByRole("textbox", { name: "Stdin" }).fill("from stdin");
    await page.getByRole("button", { name: "Run" }).click();
    const result = page.getByRole("status", { name: "Exec result" });
    await result.getByText(/exit code 3/).waitFor();
    assert.equal(
      await result.getByRole("region", { name: "stdout" }).locator("pre").textContent(),
      `ran ${EXEC_PROGRAM} --all -v\nfrom stdin`,
    );
    assert.equal(
      await result.getByRole("region", { name: "stderr" }).locator("pre").textContent(),
      "a warning\n",
    );
    assert.match((await result.textContent()) ?? "", /pid \d+ · [\d.]+ m?s/);
    assert.deepEqual(env.guest.started.at(-1)?.args, ["--all", "-v"]);
  });
});

test("files move in parts: a refused rename asks to write in place; 6 MiB goes up and comes back", {
  skip,
}, async () => {
  await withPage("operator", async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
    const result = page.getByRole("status", { name: "File result" });
    const downloadOf = async (guestPath: string): Promise<{ name: string; data: Buffer }> => {
      await page.getByRole("textbox", { name: "File path" }).fill(guestPath);
      const download = page.waitForEvent("download");
      await page.getByRole("button", { name: "Download" }).click();
      const file = await download;
      return { name: file.suggestedFilename(), data: await readFile((await file.path())!) };
    };
    const small = await downloadOf("/etc/motd");
    assert.deepEqual(small, { name: "motd", data: Buffer.from("hello from lab1\n") });
    await result.getByText(/^download: ok/).waitFor();

    // Over the 4 MiB read-file/write-file took: six 1 MiB parts each way.
    const content = randomBytes(6 * 1024 * 1024);
    await page.getByLabel("File to upload").setInputFiles({
      name: "big.bin",
      mimeType: "application/octet-stream",
      buffer: content,
    });
    await page.getByRole("textbox", { name: "Destination path" }).fill("/srv/big.bin");
    const upload = page.getByRole("button", { name: "Upload", exact: true });
    const inPlace = page.getByRole("checkbox", { name: "Write in place (no temporary file)" });
    assert.equal(await inPlace.count(), 0, "no in-place choice before a refusal");
    await upload.click();
    await result.getByText(/^upload failed: put-begin: unsupported: .*\/bin\/mv/).waitFor();
    assert.equal(env.guest.files.has("/srv/big.bin"), false, "nothing written without the person's say");
    await inPlace.check();
    await upload.click();
    await result.getByText(/^upload: ok, 6\.0 MiB \(6291456 bytes\) to \/srv\/big\.bin/).waitFor();
    await page.getByText("upload: 6291456 of 6291456 bytes").waitFor();
    await page.getByRole("progressbar", { name: "Transfer progress" }).waitFor();
    assert.ok(content.equals(env.guest.files.get("/srv/big.bin") ?? Buffer.alloc(0)), "the guest's bytes");

    const back = await downloadOf("/srv/big.bin");
    assert.equal(back.name, "big.bin");
    assert.ok(content.equals(back.data), "the bytes the browser saved");
    await result.getByText(/^download: ok, 6\.0 MiB/).waitFor();
    await page.getByText("download: 6291456 of 6291456 bytes").waitFor();
    // The observer hears the page's replies too, not necessarily before the page did.
    const commands = () =>
      env.observer.messages
        .filter((m) => m.topic.endsWith("/replies") && m.payload.includes(`"vm":"${FAKE_VM}"`))
        .map((m) => String(env.observer.json(m).command));
    await waitUntil(
      "both get-end replies",
      5_000,
      async () => commands().filter((c) => c === "get-end").length >= 2,
    );
    assert.equal(commands().filter((c) => c === "put-part").length, 6);
    assert.ok(commands().filter((c) => c === "get-part").length >= 6);
    assert.ok(!commands().some((c) => c === "read-file" || c === "write-file"), "the transfer verbs only");
  });
});

test("running ping on a group fills one row per member", { skip }, async () => {
  await withPage("operator", async (page) => {
    await page
      .getByRole("navigation", { name: "Sections" })
      .getByRole("link", { name: "Run on many" })
      .click();
    await page.getByRole("radio", { name: "A group" }).check();
    await page.getByRole("combobox", { name: "Group" }).selectOption("web");
    await page.getByRole("combobox", { name: "Command" }).selectOption("ping");
    await page.getByRole("button", { name: "Run" }).click();
    const results = page.getByRole("table", { name: "Results" });
    await page.getByRole("status", { name: "Run status" }).getByText("2 of 2 answered").waitFor();
    for (const vm of ["demo1", "demo2"]) {
      const line = results.getByRole("row", { name: new RegExp(`^${vm}\\b`) });
      await line.getByRole("cell", { name: "ok", exact: true }).waitFor();
      assert.match((await line.textContent()) ?? "", /rtt_ms/);
    }
    assert.equal(await results.getByRole("row").count(), 3, "a header and one row per member");
  });
});

test("a read-only user's commands are refused by the broker, and the page says so", { skip }, async () => {
  await withPage("viewer", async (page) => {
    await row(page, "demo1").getByRole("link", { name: "demo1" }).click();
    await page.getByRole("button", { name: "ping", exact: true }).click();
    await page
      .getByRole("status", { name: "Reply" })
      .getByText("ping: the broker refused: not authorized")
      .waitFor();
    await page.getByRole("link", { name: "Run on many" }).click();
    await page.getByRole("button", { name: "Run" }).click();
    await page
      .getByRole("status", { name: "Run status" })
      .getByText("the broker refused: not authorized")
      .waitFor();
    const refused = page
      .getByRole("table", { name: "Results" })
      .getByRole("cell", { name: "refused", exact: true });
    assert.equal(await refused.count(), 4);
  });
});

// Last: it takes the worker away.
test("a VM whose worker is gone is unreachable, whatever its availability said", { skip }, async () => {
  await withPage("operator", async (page) => {
    await row(page, "demo1").getByText("online").waitFor();
    // SIGKILL: no goodbye; the broker publishes the worker's will (state offline).
    env.worker.process.kill("SIGKILL");
    for (const vm of ALL) await row(page, vm).getByText("unreachable").waitFor();
    await page.getByText("unreachable 4").waitFor();
    await page.getByRole("link", { name: "Workers" }).click();
    await page
      .getByRole("table", { name: "Workers" })
      .getByRole("row", { name: /dash-host offline/ })
      .waitFor();
  });
});
