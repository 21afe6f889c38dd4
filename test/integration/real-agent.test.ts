import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { after, before, describe, test } from "node:test";
import { type CommandName, catalogue, compareQemuVersions } from "../../src/qga/catalogue/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { AgentReplyError } from "../../src/qga/errors.js";
import { qgaErrorOf } from "../helpers/errors.js";
import {
  MACHINE_CHANGING_COMMANDS,
  type RealAgent,
  realAgentVersions,
  startRealAgent,
} from "../helpers/qemu-ga.js";

/*
 * The guest-agent client against the real qemu-ga, once per version the tests have (Debian 12's 7.2 and
 * 10.0 from bookworm-backports, test/helpers/qemu-ga.ts): every test here checks what an agent does.
 */

/**
 * Commands that are neither queries nor blocked: harmless on the test host, since each needs a handle
 * of guest-file-open or a pid of guest-exec, both blocked.
 */
const NEED_A_BLOCKED_COMMAND = [
  "guest-file-close",
  "guest-file-read",
  "guest-file-write",
  "guest-file-seek",
  "guest-file-flush",
  "guest-exec-status",
];

for (const { version, binary, skip } of realAgentVersions()) {
  describe(`qemu-ga ${version}`, { skip }, () => {
    let agent: RealAgent;
    let client: GuestAgent;
    const atLeast = (since: string) => compareQemuVersions(version, since) >= 0;

    before(async () => {
      if (skip) return;
      agent = await startRealAgent({ binary, alsoBlock: ["guest-get-devices"] });
      client = new GuestAgent({ address: agent.socket, timeoutMs: 10_000 });
    });

    after(async () => {
      await client?.stop();
      await agent?.dispose();
    });

    test("the handshake learns the agent's version, id support and commands", async () => {
      await client.call("guest-ping");
      const caps = client.capabilities;
      assert.ok(caps);
      assert.equal(caps.version.split(".").slice(0, 2).join("."), version);
      // The same commands as the capture of this version (test/unit/fixtures/): a rebuilt package that
      // adds or drops one fails here, before a fixture or the block list goes stale.
      const capture = new URL(`../unit/fixtures/qga-${version}/guest-info.json`, import.meta.url);
      if (existsSync(capture)) {
        const recorded = catalogue["guest-info"].result.parse(
          (JSON.parse(readFileSync(capture, "utf8")) as { response: { return: unknown } }).response.return,
        );
        assert.deepEqual(
          [...caps.commands.keys()].sort(),
          recorded.supported_commands.map((c) => c.name).sort(),
        );
      }
      assert.equal(caps.supportsIds, true);
      assert.equal(caps.commands.get("guest-exec")?.enabled, false);
      assert.equal(caps.commands.get("guest-get-osinfo")?.enabled, true);
      assert.equal(client.state, "online");
    });

    test("every read-only command the agent has enabled answers and parses with its result schema", async () => {
      const caps = client.capabilities;
      assert.ok(caps);
      const readOnly = (Object.keys(catalogue) as CommandName[]).filter(
        (name) =>
          catalogue[name].readOnly && caps.commands.get(name)?.enabled && !name.startsWith("guest-sync"),
      );
      assert.ok(readOnly.length >= 15, `only ${readOnly.length} read-only commands enabled`);
      const failures: string[] = [];
      const answered: string[] = [];
      for (const name of readOnly) {
        const args = name === "guest-ssh-get-authorized-keys" ? { username: "root" } : {};
        try {
          await client.execute(name, args);
          answered.push(name);
        } catch (error) {
          // Some queries legitimately fail on a host without the hardware (e.g. no memory blocks): the agent
          // must then have said so itself, not our schema.
          if (!(error instanceof AgentReplyError) || error.errorClass === "InvalidReply")
            failures.push(`${name}: ${error}`);
        }
      }
      assert.deepEqual(failures, []);
      // The commands newer than 7.2 answer where the agent has them, and are refused where it does not.
      for (const [name, since] of [
        ["guest-network-get-route", "9.1"],
        ["guest-get-load", "10.0"],
      ] as const) {
        if (atLeast(since)) assert.ok(answered.includes(name), `${name} did not answer`);
        else {
          const error = await qgaErrorOf(client.execute(name, {}));
          assert.equal(error.code, "unsupported");
          assert.match(error.message, /does not have/);
        }
      }
    });

    test("every command of the agent that could change this machine is blocked", async () => {
      // A newer agent's new command that writes must be added to MACHINE_CHANGING_COMMANDS: this fails
      // until it is, naming it.
      await client.call("guest-ping");
      const caps = client.capabilities;
      assert.ok(caps);
      const blocked = new Set<string>(MACHINE_CHANGING_COMMANDS);
      const unblocked = [...caps.commands]
        .filter(([name, { enabled }]) => enabled && !blocked.has(name))
        .map(([name]) => name)
        .filter(
          (name) =>
            !(name in catalogue && catalogue[name as CommandName].readOnly) &&
            !NEED_A_BLOCKED_COMMAND.includes(name),
        );
      assert.deepEqual(unblocked, []);
      for (const name of MACHINE_CHANGING_COMMANDS) {
        assert.notEqual(caps.commands.get(name)?.enabled, true, `${name} is enabled`);
      }
    });

    test("the host name matches this machine's, exactly as the agent sent it", async () => {
      const result = await client.call("guest-get-host-name");
      assert.equal(result["host-name"], os.hostname());
    });

    test("a command the agent has disabled, or has not, fails as unsupported", async () => {
      const error = await qgaErrorOf(client.execute("guest-fstrim", {}));
      assert.equal(error.code, "unsupported");
      assert.match(error.message, /disabled/);
      // guest-get-devices (Windows only): 7.2 lists it disabled, 10.0 no longer builds it on Linux.
      const devices = await qgaErrorOf(client.execute("guest-get-devices", {}));
      assert.equal(devices.code, "unsupported");
      assert.match(devices.message, atLeast("10.0") ? /does not have/ : /disabled/);
    });

    test("an unknown command and bad arguments never reach the agent", async () => {
      const unknown = await qgaErrorOf(client.execute("guest-frobnicate", {}));
      assert.equal(unknown.code, "unknown_command");
      const bad = await qgaErrorOf(client.execute("guest-file-read", { handle: "one" }));
      assert.equal(bad.code, "invalid_arguments");
      assert.match(bad.message, /args\.handle/);
      const extra = await qgaErrorOf(client.execute("guest-ping", { smuggled: true }));
      assert.equal(extra.code, "invalid_arguments");
      assert.match(extra.message, /args\.smuggled/);
    });

    test("the agent's own error keeps its class and desc", async () => {
      // A handle that was never opened: the agent itself refuses it.
      const error = await qgaErrorOf(client.execute("guest-file-close", { handle: 987654321 }));
      assert.ok(error instanceof AgentReplyError);
      assert.equal(error.code, "agent_error");
      assert.equal(error.errorClass, "GenericError");
      assert.match(error.desc, /handle/i);
    });

    test("many calls in flight at once each get their own reply", async () => {
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

    test("a half request left by a previous client does not swallow ours", async () => {
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

    test("an agent killed and restarted: offline, then online again by itself", async () => {
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

    test("tcp://host:port reaches the agent too (QEMU's chardev can listen on TCP)", async () => {
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
  });
}
