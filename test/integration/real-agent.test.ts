import assert from "node:assert/strict";
import net from "node:net";
import os from "node:os";
import { after, before, test } from "node:test";
import { type CommandName, catalogue } from "../../src/qga/catalogue/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { AgentReplyError } from "../../src/qga/errors.js";
import { qgaErrorOf } from "../helpers/errors.js";
import { type RealAgent, startRealAgent } from "../helpers/qemu-ga.js";
import { skipWithout } from "../helpers/tools.js";

const skip = skipWithout("qemu-ga");
let agent: RealAgent;
let client: GuestAgent;

before(async () => {
  if (skip) return;
  agent = await startRealAgent({ alsoBlock: ["guest-get-devices"] });
  client = new GuestAgent({ address: agent.socket, timeoutMs: 10_000 });
});

after(async () => {
  await client?.stop();
  await agent?.dispose();
});

test("the handshake learns the agent's version, id support and commands", { skip }, async () => {
  await client.call("guest-ping");
  const caps = client.capabilities;
  assert.ok(caps);
  assert.match(caps.version, /^\d+\.\d+/);
  assert.equal(caps.supportsIds, true);
  assert.equal(caps.commands.get("guest-exec")?.enabled, false);
  assert.equal(caps.commands.get("guest-get-osinfo")?.enabled, true);
  assert.equal(client.state, "online");
});

test("every read-only command the agent has enabled answers and parses with its result schema", {
  skip,
}, async () => {
  const caps = client.capabilities;
  assert.ok(caps);
  const readOnly = (Object.keys(catalogue) as CommandName[]).filter(
    (name) => catalogue[name].readOnly && caps.commands.get(name)?.enabled && !name.startsWith("guest-sync"),
  );
  assert.ok(readOnly.length >= 15, `only ${readOnly.length} read-only commands enabled`);
  const failures: string[] = [];
  for (const name of readOnly) {
    const args = name === "guest-ssh-get-authorized-keys" ? { username: "root" } : {};
    try {
      await client.execute(name, args);
    } catch (error) {
      // Some queries legitimately fail on a host without the hardware (e.g. no memory blocks): the agent
      // must then have said so itself, not our schema.
      if (!(error instanceof AgentReplyError) || error.errorClass === "InvalidReply")
        failures.push(`${name}: ${error}`);
    }
  }
  assert.deepEqual(failures, []);
});

test("the host name matches this machine's, exactly as the agent sent it", { skip }, async () => {
  const result = await client.call("guest-get-host-name");
  assert.equal(result["host-name"], os.hostname());
});

test("a command the agent has disabled fails as unsupported without a round trip", { skip }, async () => {
  const error = await qgaErrorOf(client.execute("guest-get-devices", {}));
  assert.equal(error.code, "unsupported");
  assert.match(error.message, /disabled/);
});

test("an unknown command and bad arguments never reach the agent", { skip }, async () => {
  const unknown = await qgaErrorOf(client.execute("guest-frobnicate", {}));
  assert.equal(unknown.code, "unknown_command");
  const bad = await qgaErrorOf(client.execute("guest-file-read", { handle: "one" }));
  assert.equal(bad.code, "invalid_arguments");
  assert.match(bad.message, /args\.handle/);
  const extra = await qgaErrorOf(client.execute("guest-ping", { smuggled: true }));
  assert.equal(extra.code, "invalid_arguments");
  assert.match(extra.message, /args\.smuggled/);
});

test("the agent's own error keeps its class and desc", { skip }, async () => {
  // A handle that was never opened: the agent itself refuses it.
  const error = await qgaErrorOf(client.execute("guest-file-close", { handle: 987654321 }));
  assert.ok(error instanceof AgentReplyError);
  assert.equal(error.code, "agent_error");
  assert.equal(error.errorClass, "GenericError");
  assert.match(error.desc, /handle/i);
});

test("many calls in flight at once each get their own reply", { skip }, async () => {
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? client.call("guest-get-host-name") : client.call("guest-get-timezone"),
    ),
  );
  for (const [i, result] of results.entries()) {
    if (i % 2 === 0) assert.ok("host-name" in result);
    else assert.ok("offset" in result);
  }
});

test("a half request left by a previous client does not swallow ours", { skip }, async () => {
  await client.stop();
  const previous = net.connect(agent.socket);
  previous.on("error", () => {});
  await new Promise((resolve) => previous.once("connect", resolve));
  previous.write('{"execute":"guest-get-osinfo","arguments":{');
  await new Promise<void>((resolve) => previous.end(() => resolve()));
  const fresh = new GuestAgent({
    address: agent.socket,
    timeoutMs: 5_000,
    backoff: { initialMs: 10, maxMs: 100 },
  });
  const online = new Promise<void>((resolve) => fresh.onStateChange((s) => s === "online" && resolve()));
  fresh.start();
  try {
    await online;
    const result = await fresh.call("guest-get-host-name");
    assert.ok(result["host-name"]);
  } finally {
    await fresh.stop();
  }
});

// Replies left for a previous client are tested with the fake agent (client-faults.test.ts): in unix-listen
// mode the real qemu-ga 7.2 dies of SIGPIPE when it writes replies to a client that has gone, and refuses
// every connection after (seen here), which a VM's chardev never does.

test("an agent killed and restarted: offline, then online again by itself", { skip }, async () => {
  const watched = new GuestAgent({ address: agent.socket, backoff: { initialMs: 50, maxMs: 200 } });
  const states: string[] = [];
  const reached = (state: string) =>
    new Promise<void>((resolve) => {
      const off = watched.onStateChange((s) => {
        states.push(s);
        if (s === state) {
          off();
          resolve();
        }
      });
    });
  try {
    const online = reached("online");
    watched.start();
    await online;
    const offline = reached("offline");
    await agent.kill();
    await offline;
    const back = reached("online");
    agent = await agent.restart();
    await back;
    assert.ok((await watched.call("guest-ping")) !== undefined);
    assert.deepEqual(states, ["online", "offline", "online"]);
  } finally {
    await watched.stop();
  }
});

test("tcp://host:port reaches the agent too (QEMU's chardev can listen on TCP)", { skip }, async () => {
  // A loopback TCP listener relaying to the agent's unix socket stands in for `-chardev socket,host=,port=`.
  const relay = net.createServer((client) => {
    const upstream = net.connect(agent.socket);
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const { port } = relay.address() as net.AddressInfo;
  const overTcp = new GuestAgent({ address: `tcp://127.0.0.1:${port}` });
  try {
    assert.equal((await overTcp.call("guest-get-host-name"))["host-name"], os.hostname());
    assert.equal(overTcp.capabilities?.supportsIds, true);
  } finally {
    await overTcp.stop();
    await new Promise((resolve) => relay.close(resolve));
  }
});
