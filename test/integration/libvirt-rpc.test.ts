// The libvirt RPC client against the real libvirtd and real domains booting the test guest.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  AGENT_COMMAND_TIMEOUT,
  AGENT_UNRESPONSIVE,
  type DomainEvent,
  ErrorNumber,
  LibvirtConnection,
  LibvirtError,
  NO_DOMAIN,
  OPERATION_INVALID,
} from "../../src/libvirt/index.js";
import {
  libvirtDomainProblem,
  libvirtTestUri,
  skipWithoutLibvirt,
  startLibvirtDomain,
  virsh,
} from "../helpers/libvirt.js";
import { withTimeout } from "../helpers/wait.js";

function parseReturn(text: string): unknown {
  const reply = JSON.parse(text) as { return?: unknown };
  assert.ok("return" in reply, `a reply with "return": ${text}`);
  return reply.return;
}

/** Collects a connection's events; `waitFor` resolves with the first (past or future) that matches. */
function eventLog(connection: LibvirtConnection) {
  const events: DomainEvent[] = [];
  const waiters: { match: (e: DomainEvent) => boolean; resolve: (e: DomainEvent) => void }[] = [];
  connection.onDomainEvent((event) => {
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.match(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  return {
    events,
    waitFor(what: string, match: (e: DomainEvent) => boolean, timeoutMs = 60_000): Promise<DomainEvent> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      const promise = new Promise<DomainEvent>((resolve) => waiters.push({ match, resolve }));
      return withTimeout(
        promise,
        timeoutMs,
        `no ${what} event within ${timeoutMs} ms; got ${JSON.stringify(events)}`,
      );
    },
  };
}

/** A unix-socket relay to libvirtd whose replies can be held, then cut: a connection that drops mid-call. */
async function relay(target: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "libvirt-relay-"));
  const socketPath = path.join(dir, "relay.sock");
  const pairs: { client: net.Socket; upstream: net.Socket }[] = [];
  let holdReplies = false;
  let clientBytes = 0;
  const server = net.createServer((client) => {
    const upstream = net.createConnection(target);
    pairs.push({ client, upstream });
    client.on("data", (chunk) => {
      clientBytes += chunk.length;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!holdReplies) client.write(chunk);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    get clientBytes() {
      return clientBytes;
    },
    hold() {
      holdReplies = true;
    },
    cut() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    async close() {
      this.cut();
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test("libvirt RPC client against libvirtd and a booted domain", {
  skip: skipWithoutLibvirt(),
  timeout: 600_000,
}, async (t) => {
  const problem = await libvirtDomainProblem();
  if (problem) {
    if (process.env.CI === "true") throw new Error(`CI must not skip: ${problem}`);
    t.skip(problem);
    return;
  }
  const uri = libvirtTestUri();
  const vm = await startLibvirtDomain(t, "rpc");
  t.diagnostic(`boot to agent through libvirt: ${vm.bootToAgentMs.toFixed(0)} ms`);

  const openedAt = performance.now();
  const connection = await LibvirtConnection.open({ uri });
  t.diagnostic(
    `open (connect, AUTH_LIST, CONNECT_OPEN, 2 event registrations): ${(performance.now() - openedAt).toFixed(1)} ms`,
  );
  t.after(() => connection.close());
  assert.equal(connection.isOpen, true);
  assert.equal(connection.uri, uri);

  await t.test(
    "listDomains includes the running domain; lookupDomain finds it with virsh's UUID",
    async () => {
      const domains = await connection.listDomains();
      const listed = domains.find((d) => d.name === vm.name);
      assert.ok(listed, `${vm.name} in ${JSON.stringify(domains.map((d) => d.name))}`);
      const looked = await connection.lookupDomain(vm.name);
      assert.deepEqual(looked, listed);
      assert.equal(looked.uuid, (await virsh(["domuuid", vm.name])).trim());
      assert.equal(looked.id, Number((await virsh(["domid", vm.name])).trim()));
      assert.match(looked.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    },
  );

  await t.test(
    "agent commands answer with libvirt's reply text: guest-ping, guest-info, guest-get-osinfo",
    async () => {
      const domain = await connection.lookupDomain(vm.name);
      assert.deepEqual(
        parseReturn(await connection.agentCommand(domain, '{"execute":"guest-ping"}', 10)),
        {},
      );
      const info = parseReturn(await connection.agentCommand(domain, '{"execute":"guest-info"}', 10)) as {
        version: string;
        supported_commands: { name: string }[];
      };
      assert.ok(info.supported_commands.some((c) => c.name === "guest-get-osinfo"));
      const osinfo = parseReturn(
        await connection.agentCommand(domain, '{"execute":"guest-get-osinfo"}', 10),
      ) as {
        "kernel-release": string;
      };
      assert.match(osinfo["kernel-release"], /^\d+\.\d+/);

      const rounds = 20;
      const started = performance.now();
      for (let i = 0; i < rounds; i++) await connection.agentCommand(domain, '{"execute":"guest-ping"}', 10);
      t.diagnostic(
        `guest-ping through libvirt RPC: ${((performance.now() - started) / rounds).toFixed(2)} ms each (${rounds} in a row)`,
      );
    },
  );

  await t.test("an agent error is a LibvirtError carrying the agent's description", async () => {
    const domain = await connection.lookupDomain(vm.name);
    await assert.rejects(
      connection.agentCommand(domain, '{"execute":"guest-no-such-command"}', 10),
      (err: unknown) => {
        assert.ok(err instanceof LibvirtError, String(err));
        // libvirt < 9.10 reports the agent's error as INTERNAL_ERROR, later ones as AGENT_COMMAND_FAILED.
        assert.ok(
          [ErrorNumber.INTERNAL_ERROR, ErrorNumber.AGENT_COMMAND_FAILED].includes(err.code as 1),
          `code ${err.code}`,
        );
        assert.match(err.message, /guest-no-such-command/);
        assert.match(err.message, /not been found/);
        return true;
      },
    );
    // The connection is still good after an error reply.
    assert.deepEqual(parseReturn(await connection.agentCommand(domain, '{"execute":"guest-ping"}', 10)), {});
  });

  await t.test("looking up a missing domain fails with NO_DOMAIN", async () => {
    await assert.rejects(connection.lookupDomain("qga-mqtt-test-there-is-none"), (err: unknown) => {
      assert.ok(err instanceof LibvirtError);
      assert.equal(err.code, NO_DOMAIN);
      assert.match(err.message, /qga-mqtt-test-there-is-none/);
      return true;
    });
  });

  await t.test(
    "many agent commands in flight at once all resolve (more than libvirtd's 5 per client)",
    async () => {
      const domain = await connection.lookupDomain(vm.name);
      const count = 12;
      const started = performance.now();
      const replies = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          i % 3 === 0
            ? connection.listDomains().then(() => '{"return":{}}')
            : connection.agentCommand(domain, '{"execute":"guest-ping"}', 10),
        ),
      );
      t.diagnostic(`${count} calls in flight: ${(performance.now() - started).toFixed(1)} ms in all`);
      for (const reply of replies) assert.deepEqual(parseReturn(reply), {});
    },
  );

  await t.test(
    "more domains: lifecycle and agent events; reboot and shutdown through the agent; destroy",
    async (st) => {
      const log = eventLog(connection);
      const [second, third] = await Promise.all([
        startLibvirtDomain(st, "events"),
        startLibvirtDomain(st, "shutdown"),
      ]);
      const of = (vmName: string) => (e: DomainEvent) => e.domain.name === vmName;
      for (const name of [second.name, third.name]) {
        await log.waitFor("started", (e) => of(name)(e) && e.kind === "lifecycle" && e.event === "started");
        await log.waitFor(
          "agent connected",
          (e) => of(name)(e) && e.kind === "agent" && e.state === "connected",
        );
      }

      // Reboot: the agent goes away (its channel closes) and comes back when the guest's qemu-ga is up again.
      const domain = await connection.lookupDomain(second.name);
      const rebootAt = performance.now();
      const before = log.events.length;
      await connection.rebootWithAgent(domain);
      const agentStates = () =>
        log.events
          .slice(before)
          .filter((e) => of(second.name)(e) && e.kind === "agent")
          .map((e) => (e.kind === "agent" ? e.state : ""));
      await log.waitFor(
        "agent disconnected then connected",
        () => {
          const states = agentStates();
          const down = states.indexOf("disconnected");
          return down >= 0 && states.indexOf("connected", down) > down;
        },
        90_000,
      );
      st.diagnostic(
        `reboot through the agent: agent events ${agentStates().join(", ")} within ${(performance.now() - rebootAt).toFixed(0)} ms`,
      );
      assert.deepEqual(
        parseReturn(await connection.agentCommand(domain, '{"execute":"guest-ping"}', 10)),
        {},
      );

      await virsh(["destroy", second.name]);
      const stopped = await log.waitFor(
        "stopped",
        (e) => of(second.name)(e) && e.kind === "lifecycle" && e.event === "stopped",
      );
      assert.equal(
        stopped.kind === "lifecycle" && stopped.detail,
        1,
        "detail VIR_DOMAIN_EVENT_STOPPED_DESTROYED",
      );
      assert.ok(
        !(await connection.listDomains()).some((d) => d.name === second.name),
        "gone from the active list",
      );

      // Shutdown: the guest powers off by itself, libvirt reports it stopped with detail SHUTDOWN.
      await connection.shutdownWithAgent(await connection.lookupDomain(third.name));
      const down = await log.waitFor(
        "stopped",
        (e) => of(third.name)(e) && e.kind === "lifecycle" && e.event === "stopped",
      );
      assert.equal(down.kind === "lifecycle" && down.detail, 0, "detail VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN");
    },
  );

  await t.test("a paused domain refuses agent commands with OPERATION_INVALID", async () => {
    const domain = await connection.lookupDomain(vm.name);
    await virsh(["suspend", vm.name]);
    try {
      await assert.rejects(connection.agentCommand(domain, '{"execute":"guest-ping"}', 5), (err: unknown) => {
        assert.ok(err instanceof LibvirtError);
        assert.equal(err.code, OPERATION_INVALID);
        assert.match(err.message, /not running/);
        return true;
      });
    } finally {
      await virsh(["resume", vm.name]);
    }
    assert.deepEqual(parseReturn(await connection.agentCommand(domain, '{"execute":"guest-ping"}', 10)), {});
  });

  // Last use of this domain's agent: it stays stopped.
  await t.test(
    "a hung agent fails with AGENT_UNRESPONSIVE after the call's timeout; other calls go on",
    async () => {
      const domain = await connection.lookupDomain(vm.name);
      // SIGSTOP qemu-ga (the parent of what guest-exec runs) a second after it answered.
      const exec = {
        execute: "guest-exec",
        arguments: { path: "/bin/sh", arg: ["-c", "sleep 1; kill -STOP $PPID"] },
      };
      parseReturn(await connection.agentCommand(domain, JSON.stringify(exec), 10));
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const started = performance.now();
      const hung = connection.agentCommand(domain, '{"execute":"guest-ping"}', 3);
      assert.ok((await connection.listDomains()).length > 0, "the connection serves other calls meanwhile");
      await assert.rejects(hung, (err: unknown) => {
        assert.ok(err instanceof LibvirtError);
        // libvirt >= 9.10 may say AGENT_COMMAND_TIMEOUT instead.
        assert.ok(
          [AGENT_UNRESPONSIVE, AGENT_COMMAND_TIMEOUT].includes(err.code as 86),
          `code ${err.code}: ${err.message}`,
        );
        return true;
      });
      const elapsed = performance.now() - started;
      t.diagnostic(`hung agent, timeout 3 s: failed after ${elapsed.toFixed(0)} ms`);
      assert.ok(elapsed >= 2900 && elapsed < 8000, `${elapsed} ms`);
    },
  );

  await t.test("close() ends cleanly: no close listener, no failure, later calls refused", async () => {
    const other = await LibvirtConnection.open({ uri });
    let closeEvents = 0;
    other.onClose(() => closeEvents++);
    await other.listDomains();
    await other.close();
    assert.equal(other.isOpen, false);
    assert.equal(closeEvents, 0);
    await assert.rejects(other.listDomains(), LibvirtError);
    await other.close(); // twice is harmless
    // libvirtd is unharmed, and the first connection too.
    assert.ok((await connection.listDomains()).some((d) => d.name === vm.name));
  });

  await t.test("when the socket drops, pending calls fail at once and onClose reports it", async () => {
    const proxy = await relay("/run/libvirt/libvirt-sock");
    t.after(() => proxy.close());
    const dropped = await LibvirtConnection.open({ uri: `qemu+unix:///system?socket=${proxy.socketPath}` });
    const closed = new Promise<Error>((resolve) => dropped.onClose(resolve));
    const domain = await dropped.lookupDomain(vm.name);
    proxy.hold();
    const sentBefore = proxy.clientBytes;
    const pending = [
      dropped.agentCommand(domain, '{"execute":"guest-ping"}', 10),
      dropped.agentCommand(domain, '{"execute":"guest-info"}', 10),
      dropped.listDomains(),
    ];
    while (proxy.clientBytes === sentBefore) await new Promise((resolve) => setImmediate(resolve));
    const cutAt = performance.now();
    proxy.cut();
    const outcomes = await Promise.allSettled(pending);
    const failedWithin = performance.now() - cutAt;
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "rejected");
      assert.ok(outcome.reason instanceof LibvirtError);
      assert.match(outcome.reason.message, /closed the connection|connection to libvirtd failed/);
    }
    assert.ok(failedWithin < 1000, `failed in ${failedWithin.toFixed(0)} ms`);
    assert.ok((await closed) instanceof LibvirtError);
    assert.equal(dropped.isOpen, false);
    await dropped.close();
  });
});

test("open() says plainly when libvirtd's socket is not there", async () => {
  await assert.rejects(
    LibvirtConnection.open({ uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock" }),
    (err: unknown) => {
      assert.ok(err instanceof LibvirtError);
      assert.equal(err.code, ErrorNumber.NO_CONNECT);
      assert.equal(err.message, "libvirtd is not running? no socket at /nonexistent/libvirt-sock");
      return true;
    },
  );
});
