import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { stringify } from "yaml";
import { FakeAgent } from "../fakes/fake-agent.js";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { startWorker } from "../helpers/worker-process.js";

/**
 * A broker password written into `mqtt.url` (with the '@' and ':' real passwords have, raw or
 * percent-encoded) never comes out: not in the worker's logs or stderr, /healthz, /metrics, check-config,
 * nor in the errors of a worker or a `call` that cannot connect. Each place shows the URL with `***`.
 */
const skip = skipWithout("mosquitto");
/** No ':' in it: MQTT.js splits a URL's user:password at the last ':' (see the report on issue 18). */
const PASSWORD = "Alpha7@Bravo9";
const WRONG = "Wrong7@Delta9";
let dir: string;
let broker: Mosquitto;
let agent: FakeAgent;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-redact-"));
  broker = await startMosquitto({ users: { "qga-worker": PASSWORD } });
  agent = await FakeAgent.start({ path: path.join(dir, "vm1.sock") });
});

after(async () => {
  await agent?.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The URL with the password in it, as written by hand (raw '@') or percent-encoded. */
function urlWith(password: string, encoded: boolean, port = broker.port): string {
  return `mqtt://qga-worker:${encoded ? encodeURIComponent(password) : password}@127.0.0.1:${port}`;
}

/** Every form a password could leak in: whole, encoded, and each piece between its '@'. */
function assertNoSecret(output: string, password: string, where: string): void {
  const forms = [password, encodeURIComponent(password), ...password.split("@")];
  for (const form of forms) {
    assert.ok(!output.includes(form), `${where} shows ${JSON.stringify(form)}:\n${output.slice(0, 4000)}`);
  }
}

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

for (const encoded of [false, true]) {
  const form = encoded ? "percent-encoded" : "raw";
  test(`a running worker (${form} password in mqtt.url): logs, stderr, /healthz, /metrics`, {
    skip,
  }, async () => {
    const url = urlWith(PASSWORD, encoded);
    const worker = await startWorker(
      dir,
      {
        worker: { id: `redact-${encoded ? "enc" : "raw"}` },
        ...(encoded ? {} : { mqtt: { url } }),
        vms: [{ name: "vm1", socket: agent.path }],
        http: { listen: "127.0.0.1:0" },
        log: { level: "debug" },
      },
      // One from the file, one from the environment: both ways in.
      encoded ? { QGA_MQTT_MQTT_URL: url } : {},
    );
    let bodies = "";
    try {
      const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
      const origin = `http://127.0.0.1:${String(listening.port)}`;
      for (const route of ["/healthz", "/metrics"]) bodies += await (await fetch(origin + route)).text();
      const shown = `mqtt://qga-worker:***@127.0.0.1:${broker.port}`;
      // The start-up line and the connect line name the broker, without the password.
      const connected = await worker.waitForLog((line) => line.msg === "connected to the MQTT broker");
      assert.equal(connected.url, shown);
      const startup = await worker.waitForLog((line) => String(line.msg).startsWith("MQTT broker "));
      assert.equal(startup.url, shown);
    } finally {
      await worker.stop();
    }
    assertNoSecret([...worker.logs, worker.stderr(), bodies].join("\n"), PASSWORD, "the worker");
  });
}

/** A configuration file in the test folder; each test writes its own. */
async function configFile(name: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, stringify(config));
  return file;
}

test("a worker that cannot connect names the broker without the password", { skip }, async () => {
  const port = await closedPort();
  for (const encoded of [false, true]) {
    const file = await configFile("unreachable.yaml", {
      worker: { id: "redact-unreachable" },
      mqtt: { url: urlWith(PASSWORD, encoded, port) },
      vms: [{ name: "vm1", socket: agent.path }],
    });
    const result = await runCli(["run", "--config", file]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const output = result.stdout + result.stderr;
    assert.match(
      output,
      new RegExp(`cannot connect to the MQTT broker at mqtt://qga-worker:\\*\\*\\*@127\\.0\\.0\\.1:${port}`),
    );
    assertNoSecret(output, PASSWORD, `run (${encoded ? "encoded" : "raw"})`);
  }
});

test("check-config shows the broker URL without the password", { skip }, async () => {
  for (const encoded of [false, true]) {
    const file = await configFile("check.yaml", {
      mqtt: { url: urlWith(PASSWORD, encoded), tls: { keyPassphrase: "Echo7-Foxtrot9" } },
      vms: [{ name: "vm1", socket: agent.path }],
    });
    const result = await runCli(["check-config", "--config", file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`broker mqtt://qga-worker:\\*\\*\\*@127\\.0\\.0\\.1:${broker.port}`),
    );
    assertNoSecret(result.stdout + result.stderr, PASSWORD, "check-config");
    assertNoSecret(result.stdout + result.stderr, "Echo7-Foxtrot9", "check-config");
  }
});

test("call with a wrong password in --url: the error names the broker, not the password", {
  skip,
}, async () => {
  for (const encoded of [false, true]) {
    const url = urlWith(WRONG, encoded);
    const result = await runCli(["call", "vm1", "ping", "--url", url, "--timeout", "1"]);
    assert.equal(result.code, 4, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `mqtt://qga-worker:\\*\\*\\*@127\\.0\\.0\\.1:${broker.port}: the broker says .*not authorized`,
      ),
    );
    assertNoSecret(result.stdout + result.stderr, WRONG, "call");
  }
});
