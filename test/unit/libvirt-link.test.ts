import assert from "node:assert/strict";
import { test } from "node:test";
import { type DomainEvent, type DomainRef, ErrorNumber, LibvirtError } from "../../src/libvirt/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { type LibvirtAgentApi, type LibvirtLinks, libvirtLinkOpener } from "../../src/qga/libvirt-link.js";

/**
 * The libvirt link under the real GuestAgent, over a scripted libvirt connection: how libvirt's answers and
 * errors become the client's results and error codes. The real libvirtd path is in
 * test/e2e/libvirt-worker.test.ts; these are the cases a real daemon shows only with effort or luck.
 */

const DOMAIN: DomainRef = { name: "web1", uuid: "6f0a6c5e-6f5a-4c1e-9d8e-0d1f8a3b5c7e", id: 7 };

const INFO = {
  version: "7.2.0",
  supported_commands: ["guest-ping", "guest-info", "guest-shutdown", "guest-get-host-name", "guest-sync"].map(
    (name) => ({ name, enabled: true, "success-response": name !== "guest-shutdown" }),
  ),
};

type Answer = (
  command: { execute: string; arguments?: Record<string, unknown> },
  timeout: number,
) => Promise<string>;

class ScriptedLibvirt implements LibvirtAgentApi {
  isOpen = true;
  closed = 0;
  readonly sent: Array<{ execute: string; arguments?: Record<string, unknown>; timeout: number }> = [];
  readonly calls: string[] = [];
  private readonly events = new Set<(event: DomainEvent) => void>();
  constructor(
    private readonly answer: Answer,
    private readonly lookup: () => Promise<DomainRef> = async () => DOMAIN,
  ) {}
  lookupDomain(name: string): Promise<DomainRef> {
    this.calls.push(`lookup ${name}`);
    return this.lookup();
  }
  agentCommand(domain: DomainRef, command: string, timeoutSeconds: number): Promise<string> {
    assert.equal(domain.uuid, DOMAIN.uuid);
    const parsed = JSON.parse(command) as { execute: string; arguments?: Record<string, unknown> };
    this.sent.push({ ...parsed, timeout: timeoutSeconds });
    if (parsed.execute === "guest-info") return Promise.resolve(JSON.stringify({ return: INFO }));
    return this.answer(parsed, timeoutSeconds);
  }
  async shutdownWithAgent(): Promise<void> {
    this.calls.push("shutdown");
  }
  async rebootWithAgent(): Promise<void> {
    this.calls.push("reboot");
  }
  onDomainEvent(listener: (event: DomainEvent) => void): () => void {
    this.events.add(listener);
    return () => this.events.delete(listener);
  }
  onClose(): () => void {
    return () => {};
  }
  async close(): Promise<void> {
    this.closed++;
    this.isOpen = false;
  }
  emit(event: DomainEvent): void {
    for (const listener of this.events) listener(event);
  }
}

function libvirtError(code: number, message: string): LibvirtError {
  return new LibvirtError(message, { code, domain: 10 });
}

function agentOver(
  libvirt: ScriptedLibvirt | (() => Promise<ScriptedLibvirt>),
  timeoutMs = 5_000,
): GuestAgent {
  const connect = typeof libvirt === "function" ? libvirt : async () => libvirt;
  return new GuestAgent({
    address: "libvirt:web1",
    open: libvirtLinkOpener("web1", sides(connect)),
    timeoutMs,
  });
}

/** The scripted libvirt as both the shared connection (lookups, events) and each link's own one. */
function sides(
  connect: () => Promise<ScriptedLibvirt>,
  events?: (listener: (event: DomainEvent) => void) => () => void,
): LibvirtLinks {
  return {
    shared: connect,
    connect,
    events:
      events ??
      ((listener) => {
        let unsubscribe = () => {};
        void connect().then((libvirt) => {
          unsubscribe = libvirt.onDomainEvent(listener);
        });
        return () => unsubscribe();
      }),
  };
}

test("a command goes to libvirt as bare JSON (no id: libvirt matches replies itself) and its return comes back", async (t) => {
  const libvirt = new ScriptedLibvirt(async () => JSON.stringify({ return: { "host-name": "web1" } }));
  const agent = agentOver(libvirt, 2_500);
  t.after(() => agent.stop());
  assert.deepEqual(await agent.call("guest-get-host-name"), { "host-name": "web1" });
  assert.equal(agent.state, "online");
  const sent = libvirt.sent.find((c) => c.execute === "guest-get-host-name");
  assert.deepEqual(sent, { execute: "guest-get-host-name", timeout: 3 }, "seconds, rounded up");
});

test("the agent's error inside libvirt's message becomes agent_error with the agent's words", async (t) => {
  const libvirt = new ScriptedLibvirt(async () => {
    throw libvirtError(
      ErrorNumber.INTERNAL_ERROR,
      "internal error: unable to execute QEMU agent command 'guest-get-host-name': The command guest-get-host-name has been disabled for this instance",
    );
  });
  const agent = agentOver(libvirt);
  t.after(() => agent.stop());
  await assert.rejects(
    agent.call("guest-get-host-name"),
    (error: Error & { code?: string; errorClass?: string }) => {
      assert.equal(error.code, "unsupported", "a disabled command, as over a socket");
      return true;
    },
  );
  const other = new ScriptedLibvirt(async () => {
    throw libvirtError(
      ErrorNumber.INTERNAL_ERROR,
      "internal error: unable to execute QEMU agent command 'guest-get-host-name': failed to open file '/x': No such file or directory",
    );
  });
  const second = agentOver(other);
  t.after(() => second.stop());
  await assert.rejects(
    second.call("guest-get-host-name"),
    (error: Error & { code?: string; desc?: string }) => {
      assert.equal(error.code, "agent_error");
      assert.equal(error.desc, "failed to open file '/x': No such file or directory");
      return true;
    },
  );
});

test("an agent that is not connected makes the VM offline with libvirt's reason; a missing domain says so", async (t) => {
  const notConnected = new ScriptedLibvirt(async () => "");
  notConnected.agentCommand = async () => {
    throw libvirtError(
      ErrorNumber.AGENT_UNRESPONSIVE,
      "Guest agent is not responding: QEMU guest agent is not connected",
    );
  };
  const agent = agentOver(notConnected);
  t.after(() => agent.stop());
  await assert.rejects(agent.call("guest-ping"), (error: Error & { code?: string }) => {
    assert.equal(error.code, "agent_unavailable");
    assert.match(error.message, /not connected/);
    return true;
  });
  assert.equal(agent.state, "offline");
  assert.equal(notConnected.closed, 1, "the link's own connection is closed");

  const missing = new ScriptedLibvirt(
    async () => "",
    async () => {
      throw libvirtError(ErrorNumber.NO_DOMAIN, "Domain not found: no domain with matching name 'web1'");
    },
  );
  const gone = agentOver(missing);
  t.after(() => gone.stop());
  await assert.rejects(gone.call("guest-ping"), /libvirt has no domain named web1/);
});

test("libvirt's 'not available for now' is a timeout, and the link stays up", async (t) => {
  let calls = 0;
  const libvirt = new ScriptedLibvirt(async () => {
    calls++;
    if (calls === 1)
      throw libvirtError(
        ErrorNumber.AGENT_UNRESPONSIVE,
        "Guest agent is not responding: Guest agent not available for now",
      );
    return JSON.stringify({ return: {} });
  });
  const agent = agentOver(libvirt);
  t.after(() => agent.stop());
  await assert.rejects(
    agent.call("guest-ping"),
    (error: Error & { code?: string }) => error.code === "timeout",
  );
  assert.equal(agent.state, "online");
  assert.deepEqual(await agent.call("guest-ping"), {});
  assert.equal(libvirt.calls.filter((c) => c.startsWith("lookup")).length, 1, "no reconnect was needed");
});

test("our own timeout answers when libvirt does not, and the next call is not held behind it", async (t) => {
  let calls = 0;
  const libvirt = new ScriptedLibvirt(() => {
    calls++;
    return calls === 1 ? new Promise<string>(() => {}) : Promise.resolve(JSON.stringify({ return: {} }));
  });
  const agent = agentOver(libvirt);
  t.after(() => agent.stop());
  await assert.rejects(
    agent.call("guest-ping", {}, { timeoutMs: 200 }),
    (error: Error & { code?: string }) => error.code === "timeout",
  );
  assert.deepEqual(await agent.call("guest-ping", {}, { timeoutMs: 1_000 }), {});
});

test("the agent's disconnect event (guest rebooting) takes the VM offline at once", async (t) => {
  const libvirt = new ScriptedLibvirt(async () => JSON.stringify({ return: {} }));
  const agent = agentOver(libvirt);
  t.after(() => agent.stop());
  await agent.call("guest-ping");
  const offline = new Promise<string | undefined>((resolve) =>
    agent.onStateChange((state, reason) => state === "offline" && resolve(reason)),
  );
  libvirt.emit({
    kind: "agent",
    domain: { ...DOMAIN, name: "other", uuid: "00000000-0000-0000-0000-000000000001" },
    state: "disconnected",
    reason: 2,
  });
  assert.equal(agent.state, "online", "another domain's event changes nothing");
  libvirt.emit({ kind: "agent", domain: DOMAIN, state: "disconnected", reason: 2 });
  assert.match((await offline) ?? "", /agent disconnected/);
});

test("shutdown and reboot use libvirt's own calls; halt goes to the agent and 'disappeared' means accepted", async (t) => {
  const libvirt = new ScriptedLibvirt(async (command) => {
    if (command.execute === "guest-shutdown") {
      throw libvirtError(
        ErrorNumber.AGENT_UNRESPONSIVE,
        "Guest agent is not responding: Guest agent disappeared while executing command",
      );
    }
    return JSON.stringify({ return: {} });
  });
  let opened = 0;
  const agent = agentOver(async () => {
    opened++;
    libvirt.isOpen = true;
    return libvirt;
  });
  t.after(() => agent.stop());
  await agent.call("guest-shutdown", { mode: "reboot" });
  assert.deepEqual(
    libvirt.calls.filter((c) => !c.startsWith("lookup")),
    ["reboot"],
  );
  await agent.call("guest-shutdown", {});
  assert.deepEqual(
    libvirt.calls.filter((c) => !c.startsWith("lookup")),
    ["reboot", "shutdown"],
  );
  assert.equal(
    libvirt.sent.filter((c) => c.execute === "guest-shutdown").length,
    0,
    "libvirt's calls, not a raw guest-shutdown",
  );
  assert.equal(await agent.call("guest-shutdown", { mode: "halt" }), undefined);
  const halt = libvirt.sent.find((c) => c.execute === "guest-shutdown");
  assert.deepEqual(halt?.arguments, { mode: "halt" });
  assert.ok(opened >= 1);
});

/**
 * A power change libvirtd has not answered yet (libvirt's shutdown, or the agent command of a halt);
 * closing the connection fails it, as the real RPC client does.
 */
class HeldShutdown extends ScriptedLibvirt {
  private failPending: ((error: Error) => void) | undefined;
  private reached: () => void = () => {};
  /** Resolves once the power change has gone to libvirt. */
  readonly shutdownCalled = new Promise<void>((resolve) => {
    this.reached = resolve;
  });
  constructor() {
    super(async (command) => {
      if (command.execute === "guest-shutdown") return this.hold();
      return JSON.stringify({ return: {} });
    });
  }
  override shutdownWithAgent(): Promise<void> {
    this.calls.push("shutdown");
    return this.hold();
  }
  override async close(): Promise<void> {
    await super.close();
    this.failPending?.(libvirtError(1, "the connection to libvirtd was closed by this client"));
  }
  private hold(): Promise<never> {
    this.reached();
    return new Promise((_resolve, reject) => {
      this.failPending = reject;
    });
  }
}

for (const mode of ["powerdown", "halt"] as const) {
  test(`a ${mode} whose domain stops before libvirtd answers is accepted, not failed by the link closing`, async (t) => {
    const libvirt = new HeldShutdown();
    const agent = agentOver(libvirt);
    t.after(() => agent.stop());
    await agent.call("guest-ping");
    const shutdown = agent.call("guest-shutdown", { mode });
    await libvirt.shutdownCalled;
    libvirt.emit({ kind: "lifecycle", domain: DOMAIN, event: "stopped", detail: 0 });
    assert.equal(await shutdown, undefined);
    assert.equal(agent.state, "offline");
  });
}

test("a shutdown cut off by our own close is not taken for accepted", async () => {
  const libvirt = new HeldShutdown();
  const agent = agentOver(libvirt);
  await agent.call("guest-ping");
  const shutdown = agent.call("guest-shutdown", {});
  await libvirt.shutdownCalled;
  await agent.stop();
  await assert.rejects(shutdown);
});

test("libvirt's agent-connected event brings the VM online at once, not at the next backoff step", async (t) => {
  let connected = false;
  const libvirt = new ScriptedLibvirt(async () => JSON.stringify({ return: {} }));
  const realCommand = libvirt.agentCommand.bind(libvirt);
  libvirt.agentCommand = async (domain, command, timeout) => {
    if (!connected)
      throw libvirtError(
        ErrorNumber.AGENT_UNRESPONSIVE,
        "Guest agent is not responding: QEMU guest agent is not connected",
      );
    return realCommand(domain, command, timeout);
  };
  const listeners = new Set<(event: DomainEvent) => void>();
  const agent = new GuestAgent({
    address: "libvirt:web1",
    open: libvirtLinkOpener(
      "web1",
      sides(
        async () => {
          libvirt.isOpen = true;
          return libvirt;
        },
        (listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      ),
    ),
    // Without the event, the second attempt would come a minute later.
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  t.after(() => agent.stop());
  let attempted: () => void = () => {};
  const tried = new Promise<void>((resolve) => {
    attempted = resolve;
  });
  const lookup = libvirt.lookupDomain.bind(libvirt);
  libvirt.lookupDomain = (name) => {
    attempted();
    return lookup(name);
  };
  agent.start();
  await tried;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(agent.state, "offline");
  const online = new Promise<void>((resolve) =>
    agent.onStateChange((state) => state === "online" && resolve()),
  );
  connected = true;
  for (const listener of listeners)
    listener({ kind: "agent", domain: { ...DOMAIN, name: "other" }, state: "connected", reason: 2 });
  for (const listener of listeners)
    listener({ kind: "agent", domain: DOMAIN, state: "connected", reason: 2 });
  await online;
  assert.equal(agent.state, "online");
  await agent.stop();
  assert.equal(listeners.size, 0, "the client stops listening when stopped");
});
