// End-to-end check of the tiny test VM itself (test/vm): the real qemu-ga in a real guest answers on the
// chardev socket, exec and fsfreeze work, and guest-shutdown really powers off or reboots the VM. Talks the
// wire protocol on a bare socket, so it tests the test bed, not the project's client.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentSocket, TestVm, vmSupportProblem } from "../vm/test-vm.js";

// Builds the guest (cached; may install QEMU). Locally a machine without QEMU skips; CI must run these.
const problem = await vmSupportProblem();
const skip = problem !== undefined && process.env.CI !== "true" ? problem : false;

// TCG on 2 shared cores, maybe beside other test files: a boot takes ~3.5 s alone but can take many times that.
const BOOT_TIMEOUT_MS = 90_000;

function requireVmSupport(): void {
  if (problem !== undefined) assert.fail(`tiny VMs are required in CI: ${problem}`);
}

/** One bare connection per use: the chardev serves a single client at a time. */
async function withAgent<T>(vm: TestVm, use: (agent: AgentSocket) => Promise<T>): Promise<T> {
  const agent = await AgentSocket.connect(vm.qgaSocket);
  try {
    await agent.sync();
    return await use(agent);
  } finally {
    agent.close();
  }
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  "out-data"?: string;
}

function isExecStatus(value: unknown): value is ExecStatus {
  return typeof value === "object" && value !== null && typeof (value as ExecStatus).exited === "boolean";
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

test("a tiny VM runs qemu-ga: hostname, exec, fsfreeze, and powerdown ends QEMU", {
  skip,
  timeout: 300_000,
}, async (t) => {
  requireVmSupport();
  const bootStart = performance.now();
  const vm = await TestVm.boot({ name: "e2e-power", hostname: "vm1", disk: true });
  t.after(() => vm.stop());
  await vm.waitForAgent(BOOT_TIMEOUT_MS);
  t.diagnostic(`boot to agent: ${seconds(bootStart)}`);

  await t.test("guest-get-host-name returns the hostname from the kernel command line", async () => {
    const reply = await withAgent(vm, (agent) => agent.execute("guest-get-host-name"));
    assert.deepEqual(reply, { "host-name": "vm1" });
  });

  await t.test("guest-exec of /bin/echo captures its output", async () => {
    const started = await withAgent(vm, (agent) =>
      agent.execute("guest-exec", { path: "/bin/echo", arg: ["hi"], "capture-output": true }),
    );
    assert.ok(typeof started === "object" && started !== null && "pid" in started);
    const { pid } = started;
    // guest-exec-status is one-shot once the process exited; poll until then (echo is done in milliseconds).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await withAgent(vm, (agent) => agent.execute("guest-exec-status", { pid }));
      assert.ok(isExecStatus(status), `unexpected guest-exec-status reply ${JSON.stringify(status)}`);
      if (status.exited) {
        assert.equal(status.exitcode, 0);
        assert.equal(status["out-data"], "aGkK");
        assert.equal(Buffer.from(status["out-data"], "base64").toString(), "hi\n");
        break;
      }
      assert.ok(Date.now() < deadline, "echo did not exit within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  await t.test("guest-fsfreeze freezes the /data disk and thaws it", async () => {
    await withAgent(vm, async (agent) => {
      const frozen = await agent.execute("guest-fsfreeze-freeze");
      try {
        assert.equal(frozen, 1, "one filesystem (/data) frozen");
        assert.equal(await agent.execute("guest-fsfreeze-status"), "frozen");
      } finally {
        // A guest left frozen would hang every later write: thaw whatever happened above.
        assert.equal(await agent.execute("guest-fsfreeze-thaw"), 1);
      }
      assert.equal(await agent.execute("guest-fsfreeze-status"), "thawed");
    });
  });

  await t.test("guest-shutdown powerdown makes QEMU exit", async () => {
    const start = performance.now();
    await withAgent(vm, async (agent) => {
      // No reply on success: a sync right behind it answers only if the command was accepted.
      agent.write({ execute: "guest-shutdown", arguments: { mode: "powerdown" } });
      await agent.sync();
    });
    const shutdown = await vm.waitForQmpEvent("SHUTDOWN", 60_000);
    assert.equal(shutdown.data?.guest, true);
    const exit = await vm.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    t.diagnostic(`powerdown to QEMU exit: ${seconds(start)}`);
  });
});

test("guest-shutdown reboot resets the VM and the agent answers again", {
  skip,
  timeout: 300_000,
}, async (t) => {
  requireVmSupport();
  const vm = await TestVm.boot({ name: "e2e-reboot", hostname: "vm2" });
  t.after(() => vm.stop());
  await vm.waitForAgent(BOOT_TIMEOUT_MS);

  const start = performance.now();
  await withAgent(vm, async (agent) => {
    agent.write({ execute: "guest-shutdown", arguments: { mode: "reboot" } });
    await agent.sync();
  });
  const reset = await vm.waitForQmpEvent("RESET", 60_000);
  assert.equal(reset.data?.guest, true);
  await vm.waitForAgent(BOOT_TIMEOUT_MS);
  t.diagnostic(`reboot to agent: ${seconds(start)}`);
  assert.deepEqual(await withAgent(vm, (agent) => agent.execute("guest-get-host-name")), {
    "host-name": "vm2",
  });
  assert.ok(vm.running, "QEMU keeps running across a guest reboot");
});
