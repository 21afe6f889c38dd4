// Self-test of the Windows fake agent (test/fakes/windows-agent.ts): the command list qga/commands-win32.c
// gives a Windows qemu-ga, and every reply read through the real client, so the catalogue's schemas are
// shown to accept what a Windows guest answers.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { GuestAgent } from "../../src/qga/client.js";
import { startWindowsAgent, WINDOWS_BLOCKED, type WindowsAgentOptions } from "../fakes/windows-agent.js";
import { windowsServerName } from "../fakes/windows-guest.js";

async function setup(t: TestContext, options: Partial<WindowsAgentOptions> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "fake-win-"));
  const fake = await startWindowsAgent({ path: path.join(dir, "qga.sock"), ...options });
  const agent = new GuestAgent({ address: fake.fake.path, timeoutMs: 5_000, syncTimeoutMs: 3_000 });
  t.after(async () => {
    await agent.stop();
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { fake, agent };
}

type Info = { version: string; supported_commands: Array<{ name: string; enabled: boolean }> };

test("guest-info: no guest-ssh-*, the blocked commands disabled, guest-get-load from 10.0 only", async (t) => {
  const { agent } = await setup(t);
  const info = (await agent.call("guest-info")) as Info;
  const names = info.supported_commands.map((c) => c.name);
  assert.equal(info.version, "7.2.0");
  assert.ok(!names.some((n) => n.startsWith("guest-ssh-")));
  assert.ok(!names.includes("guest-get-load"));
  for (const blocked of WINDOWS_BLOCKED) {
    assert.equal(info.supported_commands.find((c) => c.name === blocked)?.enabled, false, blocked);
  }
  assert.equal(info.supported_commands.find((c) => c.name === "guest-exec")?.enabled, true);

  const newer = await setup(t, { version: "10.0.2", noVss: true });
  const newerInfo = (await newer.agent.call("guest-info")) as Info;
  assert.ok(newerInfo.supported_commands.some((c) => c.name === "guest-get-load" && c.enabled));
  assert.equal(newerInfo.supported_commands.find((c) => c.name === "guest-get-fsinfo")?.enabled, false);
  assert.deepEqual(await newer.agent.call("guest-get-load"), { load1m: 0, load5m: 0, load15m: 0 });
});

test("every read command's Windows reply passes the client's catalogue", async (t) => {
  const { agent } = await setup(t);
  const osinfo = await agent.call("guest-get-osinfo");
  assert.equal(osinfo.id, "mswindows");
  assert.equal(osinfo["version-id"], "2022");
  assert.equal(osinfo["kernel-version"], "10.0");
  const fsinfo = await agent.call("guest-get-fsinfo");
  assert.deepEqual(
    fsinfo.map((f) => f.mountpoint),
    ["D:\\", "C:\\", "System Reserved"],
  );
  assert.equal((await agent.call("guest-get-users"))[1]?.domain, "CORP");
  assert.equal((await agent.call("guest-get-vcpus")).length, 4);
  assert.equal((await agent.call("guest-network-get-interfaces"))[0]?.name, "Ethernet");
  assert.equal((await agent.call("guest-get-host-name"))["host-name"], "WIN-SRV2022");
  assert.equal((await agent.call("guest-get-timezone")).offset, 3600);
  assert.equal((await agent.call("guest-get-disks"))[0]?.name, "\\\\.\\PhysicalDrive0");
  assert.equal(
    (await agent.call("guest-get-devices"))[0]?.["driver-name"],
    "Red Hat VirtIO Ethernet Adapter",
  );
  await assert.rejects(agent.call("guest-get-cpustats"), /not currently supported/);
  await assert.rejects(agent.call("guest-set-vcpus", { vcpus: [] }), /disabled/);
  await assert.rejects(
    agent.call("guest-set-user-password", { username: "alice", password: "eA==", crypted: true }),
    /not currently supported/,
  );
});

test("the Server name table: by first build now, by last build up to 2019 in older agents", () => {
  assert.deepEqual(windowsServerName(20348), { version: "Microsoft Windows Server 2022", id: "2022" });
  assert.deepEqual(windowsServerName(17763), { version: "Microsoft Windows Server 2019", id: "2019" });
  assert.deepEqual(windowsServerName(14393), { version: "Microsoft Windows Server 2016", id: "2016" });
  assert.deepEqual(windowsServerName(20348, true), { version: "N/A", id: "N/A" });
  assert.deepEqual(windowsServerName(17763, true).id, "2019");
});
