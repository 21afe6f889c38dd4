import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { FakeAgent } from "../fakes/fake-agent.js";
import { FakeGuest, type Program, type Started } from "../fakes/fake-guest.js";
import { skipWithout } from "../helpers/tools.js";
import { waitUntil } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { DashboardEnv, FAKE_VM, launchChromium, USERS, withPage as withPageAs } from "./dashboard-env.js";

/**
 * Cancelling the files panel's transfers, in Debian's Chromium against the demo's set-up. Each cancel is
 * made deterministic by holding the fake agent's reply (a `hang` fault) at the step to cancel, pressing
 * Cancel, seeing the page's transfer-abort on the VM's command topic, then releasing the agent.
 *
 * lab1 (the env's FAKE_VM) may not run /bin/mv or /bin/rm, so its uploads are written in place; an
 * atomic upload, whose temporary file the abort must remove, goes to lab2: a fake guest of its own,
 * served by a second worker on the same broker, whose restrictions.exec allows /bin/mv and /bin/rm.
 */
const skip = skipWithout("mosquitto", "qemu-ga", "chromium");
const ATOMIC_VM = "lab2";
const MiB = 1024 * 1024;
/** Six parts of the worker's default 1 MiB (limits.transferPartBytes): more than the page's 4 in flight. */
const SIZE = 6 * MiB;
const IN_FLIGHT = 4;

let env: DashboardEnv;
let browser: Browser;
let lab2: { dir: string; guest: FakeGuest; agent: FakeAgent; worker: WorkerProcess };

before(async () => {
  if (skip) return;
  [env, browser] = await Promise.all([DashboardEnv.start(), launchChromium()]);
  lab2 = await startAtomicVm(env);
  await env.observer.subscribe([`qga/${FAKE_VM}/cmd/+`, `qga/${ATOMIC_VM}/cmd/+`]);
});

after(async () => {
  await browser?.close();
  await lab2?.worker.stop();
  await lab2?.agent.stop();
  if (lab2) await rm(lab2.dir, { recursive: true, force: true });
  await env?.stop();
});

/** A guest whose /bin/rm and /bin/mv act on its files, behind a second worker that lets a put run them. */
async function startAtomicVm(env: DashboardEnv) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-dashboard-lab2-"));
  const guest = new FakeGuest();
  guest.program = (started) => coreutils(guest, started);
  const agent = await FakeAgent.start({ path: path.join(dir, "lab2.sock"), commands: guest.commands() });
  const worker = await startWorker(
    dir,
    {
      worker: { id: "dash-lab2" },
      mqtt: { url: env.broker.url, username: "qga-worker" },
      vms: [{ name: ATOMIC_VM, socket: agent.path, groups: ["lab"] }],
      policy: { default: ["read"], vms: { [ATOMIC_VM]: ["read", "files"] } },
      restrictions: { vms: { [ATOMIC_VM]: { exec: ["/bin/mv", "/bin/rm"] } } },
      status: { intervalSeconds: 2, heartbeatSeconds: 30 },
    },
    { QGA_MQTT_MQTT_PASSWORD: USERS["qga-worker"] },
  );
  await env.observer.next(`qga/${ATOMIC_VM}/availability`, (m) => m.payload.toString() === "online", 30_000);
  return { dir, guest, agent, worker };
}

/** `/bin/rm -f -- FILE` and `/bin/mv -f -- FROM TO` on the fake guest's files, as a put runs them. */
function coreutils(guest: FakeGuest, started: Started): Program {
  const [flag, dashes, ...files] = started.args;
  if (flag !== "-f" || dashes !== "--") return { exitcode: 2, err: `unexpected arguments ${started.args}` };
  if (started.path === "/bin/rm" && files.length === 1) {
    guest.files.delete(files[0]!);
    return { exitcode: 0 };
  }
  const [from, to] = files;
  if (started.path === "/bin/mv" && from !== undefined && to !== undefined && guest.files.has(from)) {
    guest.files.set(to, guest.files.get(from)!);
    guest.files.delete(from);
    return { exitcode: 0 };
  }
  return { exitcode: 1, err: `${started.path}: cannot ${started.args.join(" ")}` };
}

const withPage = (body: (page: Page) => Promise<void>) => withPageAs(browser, env, "operator", body);

interface Sent {
  readonly command: string;
  readonly args: Record<string, unknown>;
}

/** The requests published on `vm`'s command topics from message `from` on, in the order the broker sent them. */
function sentTo(vm: string, from: number): Sent[] {
  const prefix = `qga/${vm}/cmd/`;
  return env.observer.messages
    .slice(from)
    .filter((m) => m.topic.startsWith(prefix))
    .map((m) => {
      const body = env.observer.json(m) as { args?: Record<string, unknown> };
      return { command: m.topic.slice(prefix.length), args: body.args ?? {} };
    });
}

/** Resolves once `count` requests of `command` went to `vm` after message `from`. */
async function published(vm: string, command: string, from: number, count = 1): Promise<void> {
  const topic = `qga/${vm}/cmd/${command}`;
  const matching = () => env.observer.messages.slice(from).filter((m) => m.topic === topic);
  while (matching().length < count) {
    const known = new Set(matching());
    await env.observer.next(topic, (m) => !known.has(m) && env.observer.messages.indexOf(m) >= from);
  }
}

/** The worker's reply to the page's transfer-abort on `vm`, from message `from` on. */
async function abortReply(vm: string, from: number): Promise<Record<string, unknown>> {
  const find = () =>
    env.observer.messages
      .slice(from)
      .filter((m) => m.topic.endsWith("/replies"))
      .map((m) => env.observer.json(m) as Record<string, unknown>)
      .find((body) => body.command === "transfer-abort" && body.vm === vm);
  // The page shows "cancelled" once it has this reply; the observer hears it at about the same time.
  await waitUntil("the worker's reply to transfer-abort", 5_000, async () => find() !== undefined);
  return find()!;
}

/**
 * Everything the page published before this call has reached the observer once the page's next request
 * (a ping from the VM page's buttons, published after it on the same connection) has: a fence for "no
 * part was sent after the abort".
 */
async function fence(page: Page, vm: string): Promise<void> {
  const from = env.observer.messages.length;
  await page.getByRole("button", { name: "ping", exact: true }).click();
  await published(vm, "ping", from);
}

async function chooseUpload(page: Page, content: Buffer, target: string): Promise<void> {
  await page.getByLabel("File to upload").setInputFiles({
    name: path.posix.basename(target),
    mimeType: "application/octet-stream",
    buffer: content,
  });
  await page.getByRole("textbox", { name: "Destination path" }).fill(target);
}

/** lab1 cannot rename: its first upload is refused, and the panel offers to write in place. */
async function allowInPlace(page: Page): Promise<void> {
  const result = page.getByRole("status", { name: "File result" });
  const from = env.observer.messages.length;
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await result.getByText(/^upload failed: put-begin: unsupported: .*\/bin\/mv/).waitFor();
  // Heard before the test counts what the page sends next.
  await published(FAKE_VM, "put-begin", from);
  await page.getByRole("checkbox", { name: "Write in place (no temporary file)" }).check();
}

/** Waits until the fake agent received a request satisfying `match` after its request number `from`. */
function agentReached(agent: FakeAgent, from: number, match: (execute: string, args: unknown) => boolean) {
  return agent.waitForRequest((r) => agent.requests.indexOf(r) >= from && match(r.execute, r.arguments));
}

const tempFiles = (guest: FakeGuest) => [...guest.files.keys()].filter((name) => name.endsWith(".qga-part"));

test("an upload cancelled among its parts: aborted once, no part after it, the handle closed (lab1, in place)", {
  skip,
}, async () => {
  await withPage(async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
    const target = "/srv/cancel-up.bin";
    const content = randomBytes(SIZE);
    await chooseUpload(page, content, target);
    await allowInPlace(page);
    const result = page.getByRole("status", { name: "File result" });
    const from = env.observer.messages.length;
    const agentFrom = env.fake.requests.length;
    // The first part's write is held in the agent: the page has its 4 parts in flight, none answered.
    env.fake.fault("guest-file-write", { kind: "hang" });
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await agentReached(env.fake, agentFrom, (execute) => execute === "guest-file-write");
    await published(FAKE_VM, "put-part", from, IN_FLIGHT);
    const cancel = page.getByRole("button", { name: "Cancel upload" });
    // Twice, as an impatient person does: one abort goes out.
    await cancel.dblclick();
    await published(FAKE_VM, "transfer-abort", from);
    await result.getByText("upload: cancelling…").waitFor();
    env.fake.release();
    await result
      .getByText(
        /^upload cancelled: transfer [0-9a-f]{16} aborted; \/srv\/cancel-up\.bin was written in place/,
      )
      .waitFor();
    const reply = await abortReply(FAKE_VM, from);
    assert.deepEqual([reply.ok, reply.result], [true, { aborted: true }]);
    await fence(page, FAKE_VM);

    const sent = sentTo(FAKE_VM, from).filter((s) => s.command !== "ping");
    const abortAt = sent.findIndex((s) => s.command === "transfer-abort");
    assert.deepEqual(
      sent.map((s) => s.command),
      ["put-begin", ...Array(IN_FLIGHT).fill("put-part"), "transfer-abort"],
      "4 parts, then the abort, once; nothing after it",
    );
    const begin = sent[0]!;
    assert.equal(begin.args.atomic, false);
    assert.ok(sent.slice(1, abortAt).every((s) => typeof s.args.transfer === "string"));
    assert.equal(sent[abortAt]!.args.transfer, sent[1]!.args.transfer, "the abort names the transfer");
    // The worker finished the part under way and refused the ones behind it; its handle is closed.
    const stored = env.guest.files.get(target) ?? Buffer.alloc(0);
    assert.ok(stored.length < content.length, `${stored.length} bytes in the guest, not all`);
    assert.ok(content.subarray(0, stored.length).equals(stored), "what is there is the file's beginning");
    assert.deepEqual(tempFiles(env.guest), []);
    assert.equal(env.guest.openHandles, 0, "the transfer's guest handle is closed");
    assert.equal(await page.getByRole("button", { name: "Cancel upload" }).count(), 0, "Cancel is gone");
  });
});

test("an upload cancelled during put-begin waits for its transfer id, aborts it and sends no part (lab1)", {
  skip,
}, async () => {
  await withPage(async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
    const target = "/srv/cancel-begin.bin";
    await chooseUpload(page, randomBytes(SIZE), target);
    await allowInPlace(page);
    const result = page.getByRole("status", { name: "File result" });
    const from = env.observer.messages.length;
    const agentFrom = env.fake.requests.length;
    env.fake.fault("guest-file-open", { kind: "hang" });
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await agentReached(
      env.fake,
      agentFrom,
      (execute, args) => execute === "guest-file-open" && (args as { path?: unknown }).path === target,
    );
    await page.getByRole("button", { name: "Cancel upload" }).click();
    await result.getByText("upload: cancelling…").waitFor();
    await published(FAKE_VM, "put-begin", from);
    assert.deepEqual(
      sentTo(FAKE_VM, from).map((s) => s.command),
      ["put-begin"],
      "nothing to abort before the begin's reply",
    );
    env.fake.release();
    await result.getByText(/^upload cancelled: transfer [0-9a-f]{16} aborted/).waitFor();
    const reply = await abortReply(FAKE_VM, from);
    assert.equal(reply.ok, true);
    await fence(page, FAKE_VM);
    const sent = sentTo(FAKE_VM, from).filter((s) => s.command !== "ping");
    assert.deepEqual(
      sent.map((s) => s.command),
      ["put-begin", "transfer-abort"],
    );
    assert.match(String(sent[1]!.args.transfer), /^[0-9a-f]{16}$/);
    assert.equal(env.guest.openHandles, 0, "the transfer's guest handle is closed");
  });
});

test("an atomic upload cancelled among its parts leaves no file at the target and no temporary file (lab2)", {
  skip,
}, async () => {
  await withPage(async (page) => {
    await page.goto(`${env.dashboard.url}#/vm/${ATOMIC_VM}`);
    const target = "/srv/atomic.bin";
    await chooseUpload(page, randomBytes(SIZE), target);
    const result = page.getByRole("status", { name: "File result" });
    const from = env.observer.messages.length;
    const agentFrom = lab2.agent.requests.length;
    lab2.agent.fault("guest-file-write", { kind: "hang" });
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await agentReached(lab2.agent, agentFrom, (execute) => execute === "guest-file-write");
    await published(ATOMIC_VM, "put-part", from, IN_FLIGHT);
    const [temp] = tempFiles(lab2.guest);
    assert.match(
      temp ?? "",
      /^\/srv\/\.atomic\.bin\.[0-9a-f]{16}\.qga-part$/,
      "the parts go to a temporary file",
    );
    await page.getByRole("button", { name: "Cancel upload" }).click();
    await published(ATOMIC_VM, "transfer-abort", from);
    lab2.agent.release();
    await result
      .getByText(/^upload cancelled: transfer [0-9a-f]{16} aborted; its temporary file is removed/)
      .waitFor();
    assert.equal((await abortReply(ATOMIC_VM, from)).ok, true);
    await fence(page, ATOMIC_VM);
    const sent = sentTo(ATOMIC_VM, from).filter((s) => s.command !== "ping");
    assert.deepEqual(
      sent.map((s) => s.command),
      ["put-begin", ...Array(IN_FLIGHT).fill("put-part"), "transfer-abort"],
    );
    assert.equal(lab2.guest.files.has(target), false, "nothing at the target");
    assert.deepEqual(tempFiles(lab2.guest), [], "the temporary file is removed");
    assert.deepEqual(
      lab2.guest.started.map((s) => [s.path, ...s.args]),
      [["/bin/rm", "-f", "--", temp]],
      "removed with /bin/rm, and nothing renamed into place",
    );
    assert.equal(lab2.guest.openHandles, 0, "the transfer's guest handle is closed");
  });
});

test("a download cancelled among its parts: aborted, no part asked after it, nothing saved (lab1)", {
  skip,
}, async () => {
  await withPage(async (page) => {
    const source = "/srv/cancel-down.bin";
    env.guest.files.set(source, randomBytes(SIZE));
    await page.goto(`${env.dashboard.url}#/vm/${FAKE_VM}`);
    const saved: string[] = [];
    page.on("download", (download) => saved.push(download.suggestedFilename()));
    const result = page.getByRole("status", { name: "File result" });
    const from = env.observer.messages.length;
    const agentFrom = env.fake.requests.length;
    // get-begin opens and seeks; the first read is the first part's: held.
    env.fake.fault("guest-file-read", { kind: "hang" });
    await page.getByRole("textbox", { name: "File path" }).fill(source);
    await page.getByRole("button", { name: "Download" }).click();
    await agentReached(env.fake, agentFrom, (execute) => execute === "guest-file-read");
    await published(FAKE_VM, "get-part", from, IN_FLIGHT);
    await page.getByRole("button", { name: "Cancel download" }).click();
    await published(FAKE_VM, "transfer-abort", from);
    env.fake.release();
    await result.getByText(/^download cancelled: transfer [0-9a-f]{16} aborted; nothing is saved$/).waitFor();
    assert.equal((await abortReply(FAKE_VM, from)).ok, true);
    await fence(page, FAKE_VM);
    const sent = sentTo(FAKE_VM, from).filter((s) => s.command !== "ping");
    assert.deepEqual(
      sent.map((s) => s.command),
      ["get-begin", ...Array(IN_FLIGHT).fill("get-part"), "transfer-abort"],
    );
    assert.deepEqual(saved, [], "no download reached the browser");
    assert.equal(env.guest.openHandles, 0, "the transfer's guest handle is closed");
  });
});
