import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  privateLibvirtdProblem,
  skipWithoutLibvirt,
  startLibvirtDomain,
  startPrivateLibvirtd,
  virsh,
} from "../helpers/libvirt.js";
import { vmSupportProblem } from "../vm/test-vm.js";

/**
 * On a machine where libvirtd never ran, the tests start it themselves, and their first domains start at
 * once (test/e2e/libvirt-worker.test.ts starts two). Each test here starts a libvirtd of its own in that
 * state (fresh folders, no `machine` cgroup yet: see startPrivateLibvirtd), prepared as the system daemon
 * is (fillMachineCpuset), and starts two domains at once, which must both run.
 */
// Locally a machine without them skips; in CI (CI=true) the tests run and fail with the reason.
const problem = skipWithoutLibvirt() || privateLibvirtdProblem() || (await vmSupportProblem());
const skip = problem && process.env.CI !== "true" ? problem : false;

async function firstDomainsStart(
  t: import("node:test").TestContext,
  options: { emptyMachineCpuset?: boolean },
): Promise<void> {
  if (problem) assert.fail(`a libvirtd of the tests' own is required in CI: ${problem}`);
  const daemon = await startPrivateLibvirtd(t, options);
  assert.equal((await virsh(["list", "--all", "--name"], 10_000, daemon.uri)).trim(), "", "a fresh daemon");
  let domains: Awaited<ReturnType<typeof startLibvirtDomain>>[];
  try {
    domains = await Promise.all(
      ["first", "second"].map((label) =>
        // libvirt sets up a domain's cgroups before QEMU runs: started is what counts, not booted.
        startLibvirtDomain(t, label, { uri: daemon.uri, waitForAgent: false }),
      ),
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlibvirtd.log:\n${daemon.logTail()}`);
  }
  for (const domain of domains) {
    assert.match(await virsh(["domstate", domain.name], 10_000, daemon.uri), /running/);
  }
  if (daemon.cpusetTop) {
    // The partition libvirt put them in has its parent's CPUs and memory nodes.
    const read = (dir: string, key: string) => readFileSync(path.join(dir, key), "utf8").trim();
    const machine = path.join(daemon.cpusetTop, "machine");
    assert.equal(read(machine, "cpuset.cpus"), read(daemon.cpusetTop, "cpuset.cpus"));
    assert.equal(read(machine, "cpuset.mems"), read(daemon.cpusetTop, "cpuset.mems"));
  }
}

test("a libvirtd that never ran starts its first two domains at once", { skip, timeout: 300_000 }, (t) =>
  firstDomainsStart(t, {}),
);

test(
  "they start even if its machine cgroup is there with an empty cpuset, as a racing first start leaves it",
  { skip, timeout: 300_000 },
  (t) => firstDomainsStart(t, { emptyMachineCpuset: true }),
);
