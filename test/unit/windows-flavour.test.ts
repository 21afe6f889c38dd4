// pathFlavour auto: the RestrictedAgent learns the flavour from guest-get-osinfo once per connection, asks
// nothing when nothing is restricted, and asks again after the agent reconnected (a reinstalled VM).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { RestrictedAgent } from "../../src/commands/restricted-agent.js";
import { GuestAgent } from "../../src/qga/client.js";
import { FakeAgent } from "../fakes/fake-agent.js";
import { startWindowsAgent } from "../fakes/windows-agent.js";

test("auto asks guest-get-osinfo once per connection, and again after a reconnect", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-flavour-"));
  const socket = path.join(dir, "qga.sock");
  const windows = await startWindowsAgent({ path: socket });
  const agent = new GuestAgent({ address: socket, timeoutMs: 5_000, syncTimeoutMs: 3_000 });
  let linux: FakeAgent | undefined;
  t.after(async () => {
    await agent.stop();
    await windows.stop();
    await linux?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const asked = (fake: FakeAgent) => fake.requests.filter((r) => r.execute === "guest-get-osinfo").length;

  const unrestricted = new RestrictedAgent(agent, {}, "vm1");
  assert.equal(await unrestricted.pathFlavour(), "posix");
  assert.equal(asked(windows.fake), 0, "nothing restricted: nothing asked");

  const restricted = new RestrictedAgent(agent, { files: ["C:\\Users\\Public"] }, "vm1");
  const [first, second] = await Promise.all([restricted.pathFlavour(), restricted.pathFlavour()]);
  assert.deepEqual([first, second], ["windows", "windows"]);
  assert.equal(await restricted.pathFlavour(), "windows");
  assert.equal(asked(windows.fake), 1, "one question for concurrent and later checks");

  // The VM comes back as Linux on the same socket: the first check after the reconnect asks again.
  await windows.stop();
  linux = await FakeAgent.start({ path: socket });
  await agent.call("guest-ping");
  assert.equal(await restricted.pathFlavour(), "posix");
  assert.equal(asked(linux), 1);

  const pinned = new RestrictedAgent(agent, { pathFlavour: "windows", files: ["C:\\x"] }, "vm1");
  assert.equal(await pinned.pathFlavour(), "windows");
  assert.equal(asked(linux), 1, "a configured flavour asks nothing");
});

test("auto without an answer is unknown, and the restricted call is refused before it is sent", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-flavour-"));
  const socket = path.join(dir, "qga.sock");
  const blind = await startWindowsAgent({ path: socket, disabled: ["guest-get-osinfo"] });
  const agent = new GuestAgent({ address: socket, timeoutMs: 5_000, syncTimeoutMs: 3_000 });
  t.after(async () => {
    await agent.stop();
    await blind.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const restricted = new RestrictedAgent(agent, { files: ["C:\\Users\\Public"] }, "vm9");
  assert.equal(await restricted.pathFlavour(), "unknown");
  await assert.rejects(
    restricted.execute("guest-file-open", { path: "C:\\Users\\Public\\a.txt" }),
    (error: Error & { code?: string }) =>
      error.code === "forbidden" && /restrictions\.vms\.vm9/.test(error.message),
  );
  assert.equal(blind.fake.requests.filter((r) => r.execute === "guest-file-open").length, 0);
});
