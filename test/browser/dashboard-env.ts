import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Dashboard, startDashboard } from "../../src/dashboard/server.js";
import { ensureUiBuilt } from "../../src/dashboard/ui-files.js";
import { createLogger } from "../../src/log.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { FakeGuest } from "../fakes/fake-guest.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { type RealAgent, startRealAgent } from "../helpers/qemu-ga.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The users of the shipped ACL (config/mosquitto/acl) the browser tests log in as. */
export const USERS = { "qga-worker": "worker-pw", operator: "operator-pw", viewer: "viewer-pw" } as const;

/** Real qemu-ga agents (machine-changing commands blocked), their groups and policy sets. */
export const REAL_VMS = [
  { name: "demo1", groups: ["web"], policy: ["read"] },
  { name: "demo2", groups: ["web"], policy: ["read", "power"] },
  { name: "demo3", groups: ["db"], policy: ["read"] },
] as const;

/** The real agent blocks guest-exec on this machine: exec and files go to a fake guest beside them. */
export const FAKE_VM = "lab1";

/** The one program lab1's restrictions.exec allows (what the exec console's test runs). */
export const EXEC_PROGRAM = "/usr/bin/uptime";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/**
 * The demo's set-up behind a real dashboard: mosquitto under the shipped ACL, three real qemu-ga agents and
 * a fake one with a guest that runs programs, the worker CLI serving them as `qga-worker`, and
 * `startDashboard` piping the browsers' WebSockets to the broker. Every VM's agent is online on return.
 */
export class DashboardEnv {
  private constructor(
    readonly dir: string,
    readonly broker: Mosquitto,
    readonly agents: Map<string, RealAgent>,
    readonly fake: FakeAgent,
    readonly guest: FakeGuest,
    readonly worker: WorkerProcess,
    readonly dashboard: Dashboard,
    readonly observer: TestClient,
  ) {}

  static async start(): Promise<DashboardEnv> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "qga-dashboard-"));
    const acl = await readFile(path.join(root, "config/mosquitto/acl"), "utf8");
    const log = createLogger("warn");
    const [broker, uiDir, ...real] = await Promise.all([
      startMosquitto({ users: { ...USERS }, acl }),
      ensureUiBuilt(root, log),
      ...REAL_VMS.map(() => startRealAgent()),
    ]);
    const agents = new Map(REAL_VMS.map((vm, i) => [vm.name, real[i]!]));
    const guest = new FakeGuest();
    guest.program = (started) => ({
      out: `ran ${started.path} ${started.args.join(" ")}\n${started.stdin.toString()}`,
      err: "a warning\n",
      exitcode: 3,
      runMs: 20,
    });
    guest.files.set("/etc/motd", Buffer.from("hello from lab1\n"));
    const fake = await FakeAgent.start({ path: path.join(dir, "lab1.sock"), commands: guest.commands() });
    const vms = [
      ...REAL_VMS.map((vm) => ({
        name: vm.name,
        socket: agents.get(vm.name)!.socket,
        groups: [...vm.groups],
      })),
      { name: FAKE_VM, socket: fake.path, groups: ["lab"] },
    ];
    const worker = await startWorker(
      dir,
      {
        worker: { id: "dash-host" },
        mqtt: { url: broker.url, username: "qga-worker" },
        vms,
        policy: {
          default: ["read"],
          vms: {
            ...Object.fromEntries(REAL_VMS.map((vm) => [vm.name, [...vm.policy]])),
            [FAKE_VM]: ["read", "exec", "files"],
          },
        },
        // lab1 may run the exec console's program only: no /bin/mv, so an atomic put is refused there
        // and the files panel must ask before it writes in place.
        restrictions: { vms: { [FAKE_VM]: { exec: [EXEC_PROGRAM] } } },
        status: { intervalSeconds: 2, heartbeatSeconds: 30 },
      },
      { QGA_MQTT_MQTT_PASSWORD: USERS["qga-worker"] },
    );
    const observer = await TestClient.connect(broker.url, { username: "operator", password: USERS.operator });
    await observer.subscribe(["qga/+/availability", "qga/bridge/+/replies"]);
    await Promise.all(
      vms.map((vm) =>
        observer.next(`qga/${vm.name}/availability`, (m) => m.payload.toString() === "online", 30_000),
      ),
    );
    const dashboard = await startDashboard({
      listen: { host: "127.0.0.1", port: 0 },
      uiDir,
      route: {
        kind: "pipe",
        upstream: { kind: "tcp", host: broker.host, port: broker.port },
        shown: broker.url,
      },
      config: { brokerUrl: "/mqtt", baseTopic: "qga", version: "test", needsLogin: true },
      machineName: "localhost",
      log,
    });
    return new DashboardEnv(dir, broker, agents, fake, guest, worker, dashboard, observer);
  }

  /** Opens the dashboard in `page` and logs in as `user`; resolves once the fleet lists every VM. */
  async login(page: Page, user: "operator" | "viewer"): Promise<void> {
    await page.goto(this.dashboard.url);
    await page.getByRole("textbox", { name: "User name" }).fill(user);
    await page.getByLabel("Password").fill(USERS[user]);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("status", { name: "Connection" }).getByText(`connected as ${user}`).waitFor();
  }

  async stop(): Promise<void> {
    await this.observer?.close();
    await this.dashboard?.close();
    await this.worker?.stop();
    await this.fake?.stop();
    for (const agent of this.agents.values()) await agent.dispose();
    await this.broker?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A new page of `browser` logged in to `env` as `user`, closed after `body`; any uncaught error or console
 * error on the page fails the test (a CSP violation is one).
 */
export async function withPage(
  browser: Browser,
  env: DashboardEnv,
  user: "operator" | "viewer",
  body: (page: Page) => Promise<void>,
): Promise<void> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  try {
    await env.login(page, user);
    await body(page);
    assert.deepEqual(errors, [], "the page logged errors (a CSP violation is one)");
  } finally {
    await page.close();
  }
}
