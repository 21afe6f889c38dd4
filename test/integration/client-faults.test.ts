import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { GuestAgent, type GuestAgentOptions } from "../../src/qga/client.js";
import { AgentReplyError } from "../../src/qga/errors.js";
import { AgentFailure, FakeAgent, type FakeAgentOptions, NO_REPLY } from "../fakes/fake-agent.js";
import { qgaErrorOf } from "../helpers/errors.js";

/** Queries the fake does not answer by default, used here as "some other command". */
const EXTRA_COMMANDS = {
  "guest-get-timezone": () => ({ zone: "UTC", offset: 0 }),
  "guest-get-users": () => [],
};

let dir: string;
let counter = 0;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-faults-"));
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function setup(
  agentOptions: Omit<FakeAgentOptions, "path"> = {},
  clientOptions: Omit<GuestAgentOptions, "address"> = {},
): Promise<{ fake: FakeAgent; client: GuestAgent }> {
  const socket = path.join(dir, `agent-${++counter}.sock`);
  const fake = await FakeAgent.start({
    path: socket,
    ...agentOptions,
    commands: { ...EXTRA_COMMANDS, ...agentOptions.commands },
  });
  const client = new GuestAgent({
    address: socket,
    timeoutMs: 2_000,
    syncTimeoutMs: 1_000,
    ...clientOptions,
  });
  cleanups.push(async () => {
    await client.stop();
    await fake.stop();
  });
  return { fake, client };
}

function executed(fake: FakeAgent, command: string): number {
  return fake.requests.filter((r) => r.execute === command).length;
}

for (const echoIds of [true, false]) {
  describe(echoIds ? "an agent that echoes ids" : "an agent without ids (before QEMU 4.0)", () => {
    test("the client detects whether ids are echoed", async () => {
      const { client } = await setup({ echoIds });
      await client.call("guest-ping");
      assert.equal(client.capabilities?.supportsIds, echoIds);
    });

    test("replies left for a previous client are not taken for ours", async () => {
      const { fake, client } = await setup({ echoIds });
      fake.leaveStaleReplies([
        '{"return": {"host-name": "stale-1"}}',
        '{"return": {"host-name": "stale-2"}, "id": 1}',
      ]);
      const result = await client.call("guest-get-host-name");
      assert.equal(result["host-name"], "fake-guest");
    });

    test("a half request left in the channel does not swallow ours", async () => {
      const { fake, client } = await setup({ echoIds });
      fake.leaveHalfRequest('{"execute":"guest-get-osinfo","arguments":{');
      const result = await client.call("guest-get-host-name");
      assert.equal(result["host-name"], "fake-guest");
    });

    test("a late reply after a timeout is dropped: the next caller gets its own", async () => {
      const { fake, client } = await setup({ echoIds });
      await client.call("guest-ping");
      fake.fault("guest-get-host-name", { kind: "delay", ms: 400 });
      const timedOut = await qgaErrorOf(client.call("guest-get-host-name", {}, { timeoutMs: 100 }));
      assert.equal(timedOut.code, "timeout");
      const next = await client.call("guest-get-timezone");
      assert.ok("offset" in next, `got ${JSON.stringify(next)}`);
    });

    test("garbage instead of a reply fails that call as agent_error, and the next call works", async () => {
      const { fake, client } = await setup({ echoIds });
      await client.call("guest-ping");
      fake.fault("guest-get-host-name", { kind: "garbage", bytes: "this is not json\n" });
      const error = await qgaErrorOf(client.call("guest-get-host-name"));
      assert.ok(error instanceof AgentReplyError);
      assert.equal(error.errorClass, "InvalidReply");
      assert.match(error.message, /not valid JSON/);
      assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
    });

    test("a reply over maxReplyBytes fails as ReplyTooLarge, and the channel recovers", async () => {
      const { fake, client } = await setup({ echoIds }, { maxReplyBytes: 4096 });
      await client.call("guest-ping");
      fake.fault("guest-get-osinfo", { kind: "oversize", bytes: 100_000 });
      const error = await qgaErrorOf(client.call("guest-get-osinfo"));
      assert.ok(error instanceof AgentReplyError);
      assert.equal(error.errorClass, "ReplyTooLarge");
      assert.match(error.message, /over the limit of 4096/);
      assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
    });

    test("a disconnect mid-call fails it as agent_unavailable, and the client reconnects", async () => {
      const { fake, client } = await setup({ echoIds });
      await client.call("guest-ping");
      fake.fault("guest-get-host-name", { kind: "disconnect" });
      const error = await qgaErrorOf(client.call("guest-get-host-name"));
      assert.equal(error.code, "agent_unavailable");
      assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
      assert.equal(fake.connections, 2);
    });
  });
}

test("a hung agent: the call times out, the resync fails as unavailable, and it comes back after", async () => {
  const { fake, client } = await setup({}, { backoff: { initialMs: 20, maxMs: 100 }, syncTimeoutMs: 300 });
  client.start();
  await client.call("guest-ping");
  const offline = new Promise<string | undefined>((resolve) =>
    client.onStateChange((s, why) => s === "offline" && resolve(why)),
  );
  fake.fault("*", { kind: "hang" });
  const error = await qgaErrorOf(client.call("guest-get-host-name", {}, { timeoutMs: 200 }));
  assert.equal(error.code, "timeout");
  assert.match((await offline) ?? "", /sync handshake/);
  const online = new Promise<void>((resolve) => client.onStateChange((s) => s === "online" && resolve()));
  fake.release();
  await online;
  assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
});

test("when the connection drops, every call in flight fails at once (not at its timeout)", async () => {
  const { fake, client } = await setup({}, { timeoutMs: 30_000 });
  await client.call("guest-ping");
  // Three calls in flight; the agent answers the first (late), then drops the connection on the second.
  fake.fault("guest-get-osinfo", { kind: "delay", ms: 50 });
  fake.fault("guest-get-timezone", { kind: "disconnect" });
  const first = client.call("guest-get-osinfo");
  const rest = [client.call("guest-get-timezone"), client.call("guest-get-users")];
  assert.ok((await first).id);
  const codes = await Promise.all(rest.map(async (call) => (await qgaErrorOf(call)).code));
  assert.deepEqual(codes, ["agent_unavailable", "agent_unavailable"]);
});

test("a full queue answers busy instead of growing", async () => {
  const { fake, client } = await setup({}, { maxInFlight: 1, maxQueue: 2, timeoutMs: 5_000 });
  await client.call("guest-ping");
  fake.fault("*", { kind: "hang" });
  const held = [
    client.call("guest-get-osinfo"),
    client.call("guest-get-osinfo"),
    client.call("guest-get-osinfo"),
  ];
  const busy = await qgaErrorOf(client.call("guest-get-osinfo"));
  assert.equal(busy.code, "busy");
  fake.release();
  const results = await Promise.all(held);
  assert.equal(results.length, 3);
});

test("a command the agent lacks or disabled fails as unsupported without a round trip", async () => {
  const { fake, client } = await setup({ disabled: ["guest-get-osinfo"] });
  await client.call("guest-ping");
  const disabled = await qgaErrorOf(client.call("guest-get-osinfo"));
  assert.equal(disabled.code, "unsupported");
  const missing = await qgaErrorOf(client.call("guest-get-load"));
  assert.equal(missing.code, "unsupported");
  assert.match(missing.message, /does not have guest-get-load/);
  assert.equal(executed(fake, "guest-get-osinfo") + executed(fake, "guest-get-load"), 0);
});

test("another client holding the socket ends in agent_unavailable after the sync timeout, not a hang", async () => {
  const { fake, client } = await setup({}, { syncTimeoutMs: 300 });
  const holder = net.connect(fake.path);
  await new Promise((resolve) => holder.once("connect", resolve));
  try {
    const error = await qgaErrorOf(client.call("guest-ping", {}, { timeoutMs: 5_000 }));
    assert.equal(error.code, "agent_unavailable");
    assert.match(error.message, /another client holds its socket/);
  } finally {
    holder.destroy();
  }
  assert.ok((await client.call("guest-ping")) !== undefined);
});

test("a command without reply: accepted when the following sync answers; refused with the agent's error", async () => {
  let refuse = false;
  const { fake, client } = await setup({
    commands: {
      "guest-shutdown": () => {
        if (refuse) throw new AgentFailure("GenericError", "shutdown is not allowed here");
        return NO_REPLY;
      },
    },
  });
  assert.equal(await client.call("guest-shutdown", { mode: "reboot" }), undefined);
  assert.equal(executed(fake, "guest-shutdown"), 1);
  refuse = true;
  const error = await qgaErrorOf(client.call("guest-shutdown", { mode: "halt" }));
  assert.ok(error instanceof AgentReplyError);
  assert.equal(error.desc, "shutdown is not allowed here");
});

test("a command without reply that answers anyway counts as accepted", async () => {
  const { client } = await setup({ commands: { "guest-shutdown": () => ({}) } });
  assert.equal(await client.call("guest-shutdown", { mode: "halt" }), undefined);
  assert.ok((await client.call("guest-ping")) !== undefined);
});

test("a command without reply whose channel closes (the guest going down) succeeds", async () => {
  const { fake, client } = await setup();
  await client.call("guest-ping");
  fake.fault("guest-shutdown", { kind: "disconnect" });
  assert.equal(await client.call("guest-shutdown", { mode: "powerdown" }), undefined);
});

test("linger 0: one connection per command, guest-info asked once", async () => {
  const { fake, client } = await setup({}, { policy: { mode: "linger", idleMs: 0 } });
  for (let i = 0; i < 3; i++)
    assert.equal((await client.call("guest-get-host-name"))["host-name"], "fake-guest");
  assert.equal(fake.connections, 3);
  assert.equal(executed(fake, "guest-info"), 1);
  assert.equal(client.state, "online");
});

test("frozen filesystems: refused commands fail as frozen at once; allowed ones still run", async () => {
  const { fake, client } = await setup({ commands: { "guest-fsfreeze-status": () => "frozen" } });
  await client.call("guest-ping");
  assert.equal(client.frozen, true);
  const error = await qgaErrorOf(client.call("guest-get-osinfo"));
  assert.equal(error.code, "frozen");
  assert.equal(executed(fake, "guest-get-osinfo"), 0);
  assert.equal(await client.call("guest-fsfreeze-status"), "frozen");
});

test("frozen behind our back: the agent's 'has been disabled' becomes frozen", async () => {
  let frozen = false;
  const { client } = await setup({
    commands: {
      "guest-fsfreeze-status": () => (frozen ? "frozen" : "thawed"),
      "guest-get-host-name": () => {
        if (frozen)
          throw new AgentFailure("CommandNotFound", "Command guest-get-host-name has been disabled");
        return { "host-name": "fake-guest" };
      },
    },
  });
  await client.call("guest-get-host-name");
  frozen = true;
  const error = await qgaErrorOf(client.call("guest-get-host-name"));
  assert.equal(error.code, "frozen");
  assert.equal(client.frozen, true);
});

test("a socket that does not exist yet is waited for, then served", async () => {
  const socket = path.join(dir, "later.sock");
  const client = new GuestAgent({ address: socket, backoff: { initialMs: 20, maxMs: 100 } });
  cleanups.push(() => client.stop());
  const online = new Promise<void>((resolve) => client.onStateChange((s) => s === "online" && resolve()));
  client.start();
  const error = await qgaErrorOf(client.call("guest-ping"));
  assert.equal(error.code, "agent_unavailable");
  assert.match(error.message, /no agent socket/);
  const fake = await FakeAgent.start({ path: socket });
  cleanups.push(() => fake.stop());
  await online;
  assert.ok((await client.call("guest-ping")) !== undefined);
});
