import assert from "node:assert/strict";
import { test } from "node:test";
import { expandPolicyList, Policy } from "../../src/commands/policy.js";

test("read allows the queries and the ping/status verbs, nothing that changes the guest", () => {
  const { allowed } = expandPolicyList(["read"]);
  for (const name of ["ping", "status", "guest-ping", "guest-info", "guest-get-osinfo", "guest-get-fsinfo"]) {
    assert.ok(allowed.has(name), name);
  }
  for (const name of [
    "exec",
    "guest-exec",
    "guest-file-open",
    "reboot",
    "guest-shutdown",
    "guest-set-time",
    "set-password",
  ]) {
    assert.ok(!allowed.has(name), name);
  }
});

test("the sync commands are in no set, not even all", () => {
  const { allowed, unknown } = expandPolicyList(["all", "guest-sync-delimited"]);
  assert.ok(!allowed.has("guest-sync"));
  assert.ok(!allowed.has("guest-sync-delimited"));
  assert.deepEqual(unknown, ["guest-sync-delimited"]);
  assert.ok(allowed.has("guest-exec") && allowed.has("write-file"));
});

test("a VM's own entry wins over its groups, groups over the default", () => {
  const policy = new Policy({
    default: ["read"],
    groups: { web: ["read", "power"], db: ["time"] },
    vms: { locked: ["ping"] },
  });
  assert.deepEqual(policy.problems, []);
  assert.ok(policy.allows("w1", ["web"], "reboot"));
  assert.ok(!policy.allows("w2", [], "reboot"));
  assert.ok(policy.allows("both", ["web", "db"], "sync-time"));
  assert.ok(policy.allows("both", ["web", "db"], "reboot"));
  assert.ok(!policy.allows("locked", ["web"], "reboot"));
  assert.ok(!policy.allows("locked", ["web"], "status"));
  assert.ok(policy.allows("locked", ["web"], "ping"));
});

test("names are matched exactly: odd case, look-alikes and prototype keys allow nothing", () => {
  const policy = new Policy({ default: ["all"], groups: {}, vms: {} });
  for (const name of [
    "Reboot",
    "REBOOT",
    "guest-reboot",
    "rebоot",
    "__proto__",
    "constructor",
    "toString",
    "guest-ping ",
  ]) {
    assert.ok(!policy.allows("vm", [], name), name);
  }
  const proto = new Policy({ default: ["read"], groups: {}, vms: {} });
  assert.ok(!proto.allows("__proto__", ["constructor"], "reboot"));
});

test("entries that name nothing are problems", () => {
  const policy = new Policy({ default: ["read", "reeboot"], groups: { g: ["al"] }, vms: {} });
  assert.equal(policy.problems.length, 2);
  assert.match(policy.problems[0] ?? "", /policy.default: "reeboot"/);
});
