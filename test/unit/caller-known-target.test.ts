import assert from "node:assert/strict";
import { test } from "node:test";
import { knownList, nearMatches } from "../../src/caller/known-list.js";
import { targetProblem } from "../../src/caller/known-target.js";
import type { InventoryVm } from "../../src/census/fleet-census.js";

const INFO = "qga/bridge/+/info";

function vm(
  name: string,
  groups: string[],
  worker_state: InventoryVm["worker_state"] = "online",
): InventoryVm {
  return { name, worker: "w1", groups, agent: "online", worker_state };
}

const fleet = [vm("demo1", ["first"]), vm("demo2", ["rest"]), vm("demo3", ["rest"]), vm("db9", [])];

test("near matches: a letter wrong, missing, extra or two swapped; case does not count; far names are not near", () => {
  assert.deepEqual(nearMatches("demo4", ["demo1", "db9", "demo2"]), ["demo1", "demo2"]);
  assert.deepEqual(nearMatches("dmeo1", ["demo1", "demo2"]), ["demo1"]);
  assert.deepEqual(nearMatches("wbe", ["web", "db"]), ["web"]);
  assert.deepEqual(nearMatches("DEMO2", ["demo1", "demo2"]), ["demo2", "demo1"]);
  assert.deepEqual(nearMatches("nosuchvm", ["demo1", "demo2", "demo3"]), []);
  assert.deepEqual(nearMatches("", ["a"]), []);
});

test("the known list puts the near matches first and caps a long fleet", () => {
  assert.equal(knownList("web3", ["db1", "web2", "db2", "web1"]), "web1, web2, db1, db2");
  assert.equal(knownList("nosuchvm", ["demo3", "demo1", "demo2"]), "demo1, demo2, demo3");
  const many = Array.from({ length: 25 }, (_, i) => `vm${String(i).padStart(2, "0")}`);
  assert.equal(knownList("zzz", many, 3), "vm00, vm01, vm02 and 22 more");
});

test("an unknown VM or group is named with what exists; known targets and offline workers' VMs pass", () => {
  assert.deepEqual(targetProblem({ kind: "vm", vm: "demo4" }, fleet, ["w1"], INFO), {
    code: "unknown_vm",
    message: "demo4 is not served by any worker; known: demo1, demo2, demo3, db9",
  });
  assert.deepEqual(targetProblem({ kind: "group", group: "rset" }, fleet, ["w1"], INFO), {
    code: "unknown_group",
    message: "no VM is in group rset; known groups: rest, first",
  });
  assert.equal(targetProblem({ kind: "vm", vm: "demo2" }, fleet, ["w1"], INFO), undefined);
  assert.equal(targetProblem({ kind: "group", group: "rest" }, fleet, ["w1"], INFO), undefined);
  assert.equal(targetProblem({ kind: "group", group: "all" }, fleet, ["w1"], INFO), undefined);
  // Its worker is gone, but it is known: the call reports worker_offline (exit 3), not a usage error.
  assert.equal(targetProblem({ kind: "vm", vm: "x" }, [vm("x", [], "offline")], ["w1"], INFO), undefined);
});

test("no worker at all, or workers serving nothing: said at once", () => {
  for (const target of [
    { kind: "group", group: "all" },
    { kind: "vm", vm: "demo1" },
  ] as const) {
    assert.deepEqual(targetProblem(target, [], [], INFO), {
      code: "no_workers",
      message:
        "no worker has published its info on qga/bridge/+/info: is a worker running against this broker and base topic?",
    });
  }
  assert.deepEqual(targetProblem({ kind: "group", group: "all" }, [], ["w2", "w1"], INFO), {
    code: "no_vms",
    message: "nothing to call: the workers (w1, w2) serve no VMs",
  });
  assert.equal(
    targetProblem({ kind: "vm", vm: "a" }, [], ["w1"], INFO)?.message,
    "a is not served by any worker; the workers (w1) serve no VMs",
  );
});
