import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { type AgentCapabilities, capabilitiesFromInfo } from "../../src/qga/capabilities.js";
import type { CommandName, ResultOf } from "../../src/qga/catalogue/index.js";
import type { AgentState } from "../../src/qga/client.js";
import {
  AgentBusyError,
  AgentReplyError,
  AgentTimeoutError,
  AgentUnavailableError,
  FrozenError,
} from "../../src/qga/errors.js";
import { type StatusAgent, StatusCollector } from "../../src/status/collector.js";
import { StatusSnapshot } from "../../src/status/snapshot.js";

const log = pino({ level: "silent" });

type Handler = () => unknown;

/** The client as the collector sees it, answering from handlers in-process (the socket is tested elsewhere). */
class StubAgent implements StatusAgent {
  frozen = false;
  misbehaviour: StatusAgent["misbehaviour"] = undefined;
  capabilities: AgentCapabilities | undefined;
  readonly asked: string[] = [];
  private readonly listeners = new Set<(state: AgentState, reason: string | undefined) => void>();
  private idle = 1000;

  constructor(readonly handlers: Partial<Record<CommandName, Handler>> = {}) {
    this.handlers = {
      "guest-ping": () => ({}),
      "guest-get-time": () => Date.now() * 1e6,
      "guest-get-host-name": () => ({ "host-name": "guest" }),
      "guest-get-osinfo": () => ({ id: "debian", "kernel-release": "6.1.0" }),
      "guest-get-vcpus": () => [{ "logical-id": 0, online: true }],
      "guest-get-cpustats": () => {
        this.idle += 300;
        return [{ type: "linux", cpu: 0, user: this.idle / 3, nice: 0, system: 0, idle: this.idle }];
      },
      "guest-fsfreeze-status": () => (this.frozen ? "frozen" : "thawed"),
      ...handlers,
    };
  }

  connect(): void {
    const commands = Object.keys(this.handlers).map((name) => ({
      name,
      enabled: true,
      "success-response": true,
    }));
    this.capabilities = capabilitiesFromInfo({ version: "7.2.22", supported_commands: commands }, true);
  }

  emit(state: AgentState): void {
    if (state === "offline") this.capabilities = undefined;
    for (const listener of this.listeners) listener(state, undefined);
  }

  async call<K extends CommandName>(name: K): Promise<ResultOf<K>> {
    this.asked.push(name);
    if (!this.capabilities) this.connect();
    const handler = this.handlers[name];
    if (!handler) throw new Error(`the stub has no ${name}`);
    return handler() as ResultOf<K>;
  }

  onStateChange(listener: (state: AgentState, reason: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function collector(agent: StubAgent): StatusCollector {
  return new StatusCollector({ vm: "vm1", agent, timeoutMs: 1_000, log, concurrency: 1 });
}

test("every supported query answered: online, with its members; cpu_pct from the second collect on", async () => {
  const agent = new StubAgent();
  const c = collector(agent);
  const first = StatusSnapshot.parse(await c.collect());
  assert.equal(first.agent, "online");
  assert.equal(first.agent_version, "7.2.22");
  assert.equal(first.hostname, "guest");
  assert.deepEqual(first.os, { id: "debian", kernel_release: "6.1.0" });
  assert.equal(first.vcpus, 1);
  assert.ok(first.time_offset_ms !== undefined && Math.abs(first.time_offset_ms) < 50);
  assert.equal(first.cpu_pct, undefined);
  assert.ok(first.cpu_seconds);
  assert.equal((await c.collect()).cpu_pct, 25);
  // Commands the agent lacks are never asked for.
  assert.ok(!agent.asked.includes("guest-get-load"));
});

test("cpu_pct: polls within one clock tick keep the older reading as the baseline", async () => {
  let idle = 1000;
  const agent = new StubAgent({
    "guest-get-cpustats": () => [{ type: "linux", cpu: 0, user: idle / 3, nice: 0, system: 0, idle }],
  });
  const c = collector(agent);
  await c.collect();
  assert.equal((await c.collect()).cpu_pct, undefined, "no time passed: no percentage yet");
  idle += 300;
  assert.equal((await c.collect()).cpu_pct, 25);
  assert.equal((await c.collect()).cpu_pct, 25, "no time passed: the last percentage stands");
});

test("a query the agent refuses is skipped until the agent has been offline", async () => {
  const agent = new StubAgent({
    "guest-get-vcpus": () => {
      throw new AgentReplyError("GenericError", "no sysfs here");
    },
  });
  const c = collector(agent);
  const count = () => agent.asked.filter((name) => name === "guest-get-vcpus").length;
  assert.equal((await c.collect()).hostname, "guest");
  await c.collect();
  assert.equal(count(), 1);
  agent.emit("offline");
  agent.emit("online");
  await c.collect();
  assert.equal(count(), 2);
});

test("a busy agent drops the query for this poll only", async () => {
  let busy = true;
  const agent = new StubAgent({
    "guest-get-host-name": () => {
      if (busy) throw new AgentBusyError("queue full");
      return { "host-name": "guest" };
    },
  });
  const c = collector(agent);
  assert.equal((await c.collect()).hostname, undefined);
  busy = false;
  assert.equal((await c.collect()).hostname, "guest");
});

test("a query timing out makes the agent unresponsive, keeps what answered and asks nothing more", async () => {
  const agent = new StubAgent({
    "guest-get-osinfo": () => {
      throw new AgentTimeoutError("no answer");
    },
  });
  const snapshot = StatusSnapshot.parse(await collector(agent).collect());
  assert.equal(snapshot.agent, "unresponsive");
  assert.equal(snapshot.hostname, "guest");
  assert.equal(snapshot.os, undefined);
  assert.equal(agent.asked.at(-1), "guest-get-osinfo");
});

test("an agent that cannot be reached: vm, agent and updated only", async () => {
  const agent = new StubAgent({
    "guest-ping": () => {
      throw new AgentUnavailableError("connection refused");
    },
  });
  const snapshot = await collector(agent).collect();
  assert.deepEqual(Object.keys(snapshot).sort(), ["agent", "updated", "vm"]);
  assert.equal(snapshot.agent, "offline");
});

test("frozen: only what the agent serves while frozen; a thaw behind the client's back is noticed", async () => {
  const agent = new StubAgent();
  agent.connect();
  agent.frozen = true;
  const c = collector(agent);
  const frozen = StatusSnapshot.parse(await c.collect());
  assert.deepEqual(frozen, { vm: "vm1", agent: "frozen", updated: frozen.updated, agent_version: "7.2.22" });
  assert.deepEqual(agent.asked, ["guest-fsfreeze-status"]);
  // The stub's fsfreeze-status now says "thawed", as the real client would learn from it.
  agent.handlers["guest-fsfreeze-status"] = () => {
    agent.frozen = false;
    return "thawed";
  };
  assert.equal((await c.collect()).agent, "online");
});

test("frozen in the middle of a collect: the frozen snapshot, nothing collected before it", async () => {
  const agent = new StubAgent({
    "guest-get-osinfo": () => {
      throw new FrozenError("refused while frozen");
    },
  });
  const snapshot = await collector(agent).collect();
  assert.equal(snapshot.agent, "frozen");
  assert.equal(snapshot.hostname, undefined);
});

test("queries run with the configured concurrency, guest-get-time alone first", async () => {
  let inFlight = 0;
  let most = 0;
  const slow = (value: unknown) => async () => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    inFlight--;
    return value;
  };
  const agent = new StubAgent({
    "guest-get-host-name": slow({ "host-name": "guest" }),
    "guest-get-timezone": slow({ zone: "UTC", offset: 0 }),
    "guest-get-users": slow([]),
    "guest-get-disks": slow([]),
  });
  agent.connect();
  const c = new StatusCollector({ vm: "vm1", agent, timeoutMs: 1_000, log, concurrency: 3 });
  const snapshot = await c.collect();
  assert.equal(agent.asked[0], "guest-get-time");
  assert.equal(most, 3);
  assert.equal(snapshot.timezone?.name, "UTC");
});

test("OS and vCPUs are asked on a connection's first poll and every 5 minutes, not every poll; kept meanwhile", async () => {
  const agent = new StubAgent();
  let now = 1_000_000;
  const c = new StatusCollector({ vm: "vm1", agent, timeoutMs: 1_000, log, concurrency: 1, now: () => now });
  const count = (name: string) => agent.asked.filter((asked) => asked === name).length;
  const first = await c.collect();
  now += 30_000;
  const second = await c.collect();
  assert.equal(count("guest-get-osinfo"), 1);
  assert.equal(count("guest-get-vcpus"), 1);
  assert.equal(count("guest-get-host-name"), 2, "the rest is asked every poll");
  assert.deepEqual(second.os, first.os, "the snapshot keeps what was read");
  assert.equal(second.vcpus, first.vcpus);
  now += 300_000;
  await c.collect();
  assert.equal(count("guest-get-osinfo"), 2, "asked again after 5 minutes");
  agent.emit("offline");
  await c.collect();
  assert.equal(count("guest-get-osinfo"), 3, "and on a new connection (the guest may have been upgraded)");
});
