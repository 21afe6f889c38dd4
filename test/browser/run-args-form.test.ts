import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { skipWithout } from "../helpers/tools.js";
import { DashboardEnv, EXEC_PROGRAM, FAKE_VM, launchChromium, withPage } from "./dashboard-env.js";

/**
 * The Run page's arguments form (ui/src/args-form.tsx), drawn from a raw command's JSON Schema, in
 * Chromium through role selectors. lab1 (the fake guest) is the VM whose policy allows raw commands with
 * arguments (exec and files); the observer watches its command topics to see what the page sent.
 */
const skip = skipWithout("mosquitto", "qemu-ga", "chromium");
let env: DashboardEnv;
let browser: Browser;

before(async () => {
  if (skip) return;
  [env, browser] = await Promise.all([DashboardEnv.start(), launchChromium()]);
  await env.observer.subscribe(`qga/${FAKE_VM}/cmd/+`);
});

after(async () => {
  await browser?.close();
  await env?.stop();
});

function withRunPage(body: (page: Page) => Promise<void>): Promise<void> {
  return withPage(browser, env, "operator", async (page) => {
    await page
      .getByRole("navigation", { name: "Sections" })
      .getByRole("link", { name: "Run on many" })
      .click();
    await page.getByRole("heading", { name: "Run on many" }).waitFor();
    await body(page);
  });
}

const runButton = (page: Page) => page.getByRole("button", { name: "Run", exact: true });
const resultRow = (page: Page, vm: string) =>
  page.getByRole("table", { name: "Results" }).getByRole("row", { name: new RegExp(`^${vm}\\b`) });

async function targetLab1(page: Page): Promise<void> {
  await page.getByRole("radio", { name: "Selected VMs" }).check();
  await page.getByRole("group", { name: "VMs" }).getByRole("checkbox", { name: FAKE_VM }).check();
}

/** The request the page published on lab1's topic for `command` with request id other than `seen`. */
async function sentRequest(command: string, seen: ReadonlySet<string>): Promise<Record<string, unknown>> {
  const message = await env.observer.next(
    `qga/${FAKE_VM}/cmd/${command}`,
    (m) => !seen.has(String(env.observer.json(m).id)),
  );
  return env.observer.json(message);
}

function idsSent(command: string): Set<string> {
  return new Set(
    env.observer.messages
      .filter((m) => m.topic === `qga/${FAKE_VM}/cmd/${command}`)
      .map((m) => String(env.observer.json(m).id)),
  );
}

test("guest-exec's form: filled through its controls, it sends exactly what it holds", { skip }, async () => {
  await withRunPage(async (page) => {
    await targetLab1(page);
    await page.getByRole("combobox", { name: "Command" }).selectOption("guest-exec");
    const form = page.getByRole("group", { name: "Arguments" });
    await form.getByText("Start a program in the guest").waitFor();
    // path is required: Run waits for it, and says so.
    assert.equal(await runButton(page).isDisabled(), true);
    await page.getByText("Fill in path.").waitFor();
    await form.getByRole("textbox", { name: "path", exact: true }).fill(EXEC_PROGRAM);
    await form.getByRole("button", { name: "Add arg", exact: true }).click();
    const first = form.getByRole("textbox", { name: "arg 1", exact: true });
    // The keyboard follows the new item.
    assert.equal(await first.evaluate((input) => input === input.ownerDocument.activeElement), true);
    await first.fill("-p");
    await form.getByRole("button", { name: "Add arg", exact: true }).click();
    await form.getByRole("textbox", { name: "arg 2", exact: true }).fill("two words");
    await form.getByRole("combobox", { name: "capture-output" }).selectOption({ label: "true" });
    assert.equal(await page.getByText("Fill in path.").count(), 0);

    const seen = idsSent("guest-exec");
    await runButton(page).click();
    const sent = await sentRequest("guest-exec", seen);
    // env and input-data were left empty: not sent at all.
    assert.deepEqual(sent.args, { path: EXEC_PROGRAM, arg: ["-p", "two words"], "capture-output": true });
    const line = resultRow(page, FAKE_VM);
    await line.getByRole("cell", { name: "ok", exact: true }).waitFor();
    const pid = /"pid":(\d+)/.exec((await line.textContent()) ?? "")?.[1];
    assert.ok(pid, "the result cell shows the pid");
    const started = env.guest.started.at(-1);
    assert.deepEqual(
      [started?.path, started?.args, started?.capture],
      [EXEC_PROGRAM, ["-p", "two words"], true],
    );

    // Edit as JSON: the same arguments; changed there, the form follows.
    await form.getByRole("checkbox", { name: "Edit as JSON" }).check();
    const box = form.getByRole("textbox", { name: "Arguments (JSON)" });
    assert.deepEqual(JSON.parse(await box.inputValue()), sent.args);
    await box.fill(JSON.stringify({ path: EXEC_PROGRAM, arg: ["-s"] }));
    await form.getByRole("checkbox", { name: "Edit as JSON" }).uncheck();
    assert.equal(await form.getByRole("textbox", { name: "arg 1", exact: true }).inputValue(), "-s");
    assert.equal(await form.getByRole("textbox", { name: "arg 2", exact: true }).count(), 0);
    assert.equal(await form.getByRole("combobox", { name: "capture-output" }).inputValue(), "");
    // JSON the form cannot show keeps the box open, and says why.
    await form.getByRole("checkbox", { name: "Edit as JSON" }).check();
    await box.fill(JSON.stringify({ path: EXEC_PROGRAM, shell: true }));
    assert.equal(await form.getByRole("checkbox", { name: "Edit as JSON" }).isDisabled(), true);
    await form.getByText('the form cannot show "shell" as given').waitFor();
  });
});

test("a required member left empty keeps Run disabled; a handle goes back through a number control", {
  skip,
}, async () => {
  await withRunPage(async (page) => {
    await targetLab1(page);
    const form = page.getByRole("group", { name: "Arguments" });
    await page.getByRole("combobox", { name: "Command" }).selectOption("guest-file-open");
    const path = form.getByRole("textbox", { name: "path", exact: true });
    assert.equal(await runButton(page).isDisabled(), true);
    await path.fill("/etc/motd");
    assert.equal(await runButton(page).isDisabled(), false);
    await path.fill("");
    assert.equal(await runButton(page).isDisabled(), true, "emptied again: Run waits for path");
    await page.getByText("Fill in path.").waitFor();
    // The optional mode is a select; "(not sent)" unless chosen.
    await path.fill("/etc/motd");
    await form.getByRole("combobox", { name: "mode" }).selectOption("r");

    let seen = idsSent("guest-file-open");
    await runButton(page).click();
    assert.deepEqual((await sentRequest("guest-file-open", seen)).args, { path: "/etc/motd", mode: "r" });
    const line = resultRow(page, FAKE_VM);
    await line.getByRole("cell", { name: "ok", exact: true }).waitFor();
    const handle = (await line.getByRole("cell").last().textContent())?.trim() ?? "";
    assert.match(handle, /^\d+$/, "the result cell shows the handle");

    await page.getByRole("combobox", { name: "Command" }).selectOption("guest-file-close");
    const number = form.getByRole("spinbutton", { name: "handle" });
    assert.equal(await number.inputValue(), "", "a new command starts with an empty form");
    assert.equal(await runButton(page).isDisabled(), true);
    await number.fill("1.5");
    await page.getByText("Arguments: handle must be an integer.").waitFor();
    assert.equal(await runButton(page).isDisabled(), true);
    await number.fill(handle);
    seen = idsSent("guest-file-close");
    await runButton(page).click();
    assert.deepEqual((await sentRequest("guest-file-close", seen)).args, { handle: Number(handle) });
    // guest-file-close answers {} (the row held the handle before).
    await line.getByRole("cell", { name: "{}", exact: true }).waitFor();
    assert.equal(env.guest.openHandles, 0, "the handle was closed");
  });
});

test("a command with secret arguments masks its text; one without arguments says so", { skip }, async () => {
  await withRunPage(async (page) => {
    const form = page.getByRole("group", { name: "Arguments" });
    // No VM here may set passwords, so it is named through "other…": the form comes from the catalogue.
    await page.getByRole("combobox", { name: "Command" }).selectOption({ label: "other…" });
    await page.getByRole("textbox", { name: "Command name" }).fill("guest-set-user-password");
    for (const name of ["username", "password"]) {
      // By label: a password input has no role. (getByLabel reads the star that the role name leaves out.)
      const input = form.getByLabel(new RegExp(`^${name}\\b`));
      assert.equal(await input.getAttribute("type"), "password", name);
    }
    // crypted is a required flag: always sent, so never missing.
    await form.getByRole("checkbox", { name: "crypted" }).waitFor();
    await page.getByText("Fill in username, password.").waitFor();
    await page.getByRole("combobox", { name: "Command" }).selectOption("guest-get-fsinfo");
    await form.getByText("This command takes no arguments.").waitFor();
    assert.equal(await runButton(page).isDisabled(), false);
  });
});
