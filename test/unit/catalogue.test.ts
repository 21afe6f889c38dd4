import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type ArgsOf,
  type CommandName,
  catalogue,
  commandNames,
  compareQemuVersions,
  isCommandName,
  lookupCommand,
  type ResultOf,
} from "../../src/qga/catalogue/index.js";

// Every `{ 'command': ... }` in QEMU's qga/qapi-schema.json (QEMU 10.x, with guest-get-load from 10.0 and
// guest-network-get-route from 9.1), in schema order.
const UPSTREAM_COMMANDS = [
  "guest-sync-delimited",
  "guest-sync",
  "guest-ping",
  "guest-get-time",
  "guest-set-time",
  "guest-info",
  "guest-shutdown",
  "guest-file-open",
  "guest-file-close",
  "guest-file-read",
  "guest-file-write",
  "guest-file-seek",
  "guest-file-flush",
  "guest-fsfreeze-status",
  "guest-fsfreeze-freeze",
  "guest-fsfreeze-freeze-list",
  "guest-fsfreeze-thaw",
  "guest-fstrim",
  "guest-suspend-disk",
  "guest-suspend-ram",
  "guest-suspend-hybrid",
  "guest-network-get-interfaces",
  "guest-get-vcpus",
  "guest-set-vcpus",
  "guest-get-disks",
  "guest-get-fsinfo",
  "guest-set-user-password",
  "guest-get-memory-blocks",
  "guest-set-memory-blocks",
  "guest-get-memory-block-info",
  "guest-exec-status",
  "guest-exec",
  "guest-get-host-name",
  "guest-get-users",
  "guest-get-timezone",
  "guest-get-osinfo",
  "guest-get-devices",
  "guest-ssh-get-authorized-keys",
  "guest-ssh-add-authorized-keys",
  "guest-ssh-remove-authorized-keys",
  "guest-get-diskstats",
  "guest-get-cpustats",
  "guest-get-load",
  "guest-network-get-route",
];

// qga/main.c ga_freeze_allowlist.
const FREEZE_ALLOWLIST = [
  "guest-ping",
  "guest-info",
  "guest-sync",
  "guest-sync-delimited",
  "guest-fsfreeze-status",
  "guest-fsfreeze-thaw",
];

const NO_REPLY = ["guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid"];

const PURE_QUERIES = [
  "guest-sync-delimited",
  "guest-sync",
  "guest-ping",
  "guest-get-time",
  "guest-info",
  "guest-fsfreeze-status",
  "guest-network-get-interfaces",
  "guest-get-vcpus",
  "guest-get-disks",
  "guest-get-fsinfo",
  "guest-get-memory-blocks",
  "guest-get-memory-block-info",
  "guest-get-host-name",
  "guest-get-users",
  "guest-get-timezone",
  "guest-get-osinfo",
  "guest-get-devices",
  "guest-ssh-get-authorized-keys",
  "guest-get-diskstats",
  "guest-get-cpustats",
  "guest-get-load",
  "guest-network-get-route",
];

const sorted = (names: readonly string[]) => [...names].sort();
const names = (predicate: (name: CommandName) => boolean) => sorted(commandNames.filter(predicate));

test("the catalogue holds exactly the 44 commands of the upstream schema", () => {
  assert.equal(UPSTREAM_COMMANDS.length, 44);
  assert.equal(commandNames.length, 44);
  assert.deepEqual([...commandNames], UPSTREAM_COMMANDS);
});

test("each spec is keyed by its own name, with a one-line description and a QEMU version", () => {
  for (const name of commandNames) {
    const spec = catalogue[name];
    assert.equal(spec.name, name);
    assert.match(spec.description, /^[^\n]{10,110}$/, `${name} description`);
    assert.match(spec.since, /^\d+\.\d+(\.\d+)?$/, `${name} since`);
  }
});

test("only guest-shutdown and guest-suspend-* go without a reply", () => {
  assert.deepEqual(
    names((n) => !catalogue[n].replies),
    sorted(NO_REPLY),
  );
});

test("allowedWhileFrozen is qemu-ga's freeze allow-list", () => {
  assert.deepEqual(
    names((n) => catalogue[n].allowedWhileFrozen),
    sorted(FREEZE_ALLOWLIST),
  );
});

test("readOnly marks pure queries only: no file, exec, freeze, set or power command", () => {
  assert.deepEqual(
    names((n) => catalogue[n].readOnly),
    sorted(PURE_QUERIES),
  );
  for (const name of commandNames) {
    if (/^guest-(file-|exec|set-|suspend-|shutdown|fstrim|fsfreeze-(freeze|thaw))/.test(name)) {
      assert.equal(catalogue[name].readOnly, false, name);
    }
  }
});

test("isCommandName is exact, case-sensitive and ignores prototype keys", () => {
  assert.equal(isCommandName("guest-ping"), true);
  for (const name of [
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "GUEST-PING",
    "Guest-Ping",
    "guest-ping ",
    " guest-ping",
    "guest-ping\n",
    "guest_ping",
    "ping",
    "",
  ]) {
    assert.equal(isCommandName(name), false, JSON.stringify(name));
    assert.equal(lookupCommand(name), undefined, JSON.stringify(name));
  }
});

test("lookupCommand returns the catalogue's own spec", () => {
  assert.equal(lookupCommand("guest-exec"), catalogue["guest-exec"]);
  assert.equal(lookupCommand("guest-get-osinfo")?.readOnly, true);
});

test("the catalogue cannot be changed at run time", () => {
  assert.ok(Object.isFrozen(catalogue));
  assert.ok(Object.isFrozen(commandNames));
});

test("compareQemuVersions orders numerically, not as text", () => {
  assert.equal(compareQemuVersions("2.10", "2.9"), 1);
  assert.equal(compareQemuVersions("1.1", "1.1.0"), 0);
  assert.equal(compareQemuVersions("0.15.0", "1.1"), -1);
  assert.equal(compareQemuVersions("10.0", "9.1"), 1);
  assert.throws(() => compareQemuVersions("7.x", "7.2"), /not a QEMU version/);
});

test("ArgsOf and ResultOf give usable types", () => {
  // Compile-time checks: these assignments fail type checking if the inferred types drift.
  const exec: ArgsOf<"guest-exec"> = { path: "/bin/true", arg: ["-v"], "capture-output": "merged" };
  const flag: ArgsOf<"guest-exec"> = { path: "/bin/true", "capture-output": true };
  const seek: ArgsOf<"guest-file-seek"> = { handle: 1000, offset: 0, whence: "set" };
  const os: ResultOf<"guest-get-osinfo"> = { "pretty-name": "Debian" };
  const time: ResultOf<"guest-get-time"> = 1;
  const status: ResultOf<"guest-fsfreeze-status"> = "thawed";
  assert.ok(exec && flag && seek && os && time && status);
});
