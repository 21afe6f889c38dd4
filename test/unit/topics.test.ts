import assert from "node:assert/strict";
import { test } from "node:test";
import { assertPublishable, Topics } from "../../src/mqtt/topics.js";

const topics = new Topics("qga", "host1");

test("builders follow the contract's table", () => {
  assert.equal(topics.bridgeState(), "qga/bridge/host1/state");
  assert.equal(topics.bridgeInfo(), "qga/bridge/host1/info");
  assert.equal(topics.availability("web1"), "qga/web1/availability");
  assert.equal(topics.status("web1"), "qga/web1/status");
  assert.equal(topics.event("web1"), "qga/web1/event");
  assert.equal(topics.reply("web1", "guest-get-osinfo"), "qga/web1/reply/guest-get-osinfo");
  assert.equal(topics.vmCommands("web1"), "qga/web1/cmd/+");
  assert.equal(topics.groupCommands("all"), "qga/group/all/cmd/+");
});

test("a multi-level base topic is kept whole", () => {
  const site = new Topics("site/qga", "h");
  assert.equal(site.status("db"), "site/qga/db/status");
  assert.deepEqual(site.parseCommand("site/qga/db/cmd/ping"), { kind: "vm", vm: "db", command: "ping" });
  assert.equal(site.parseCommand("site/db/cmd/ping"), undefined);
});

test("builders refuse names that are not one topic level", () => {
  for (const bad of ["", "a/b", "a+", "#", "x\u0000y"]) {
    assert.throws(() => topics.status(bad), TypeError, `VM name ${JSON.stringify(bad)}`);
    assert.throws(() => topics.groupCommands(bad), TypeError);
    assert.throws(() => topics.reply("web1", bad), TypeError);
  }
  assert.throws(() => topics.status("bridge"), /reserved/);
  assert.throws(() => topics.vmCommands("group"), /reserved/);
  assert.throws(() => new Topics("qga/", "h"), TypeError);
  assert.throws(() => new Topics("", "h"), TypeError);
  assert.throws(() => new Topics("qga", "a/b"), TypeError);
  assert.throws(() => new Topics("q#", "h"), TypeError);
});

test("parseCommand reads VM and group command topics", () => {
  assert.deepEqual(topics.parseCommand("qga/web1/cmd/guest-ping"), {
    kind: "vm",
    vm: "web1",
    command: "guest-ping",
  });
  assert.deepEqual(topics.parseCommand("qga/group/all/cmd/reboot"), {
    kind: "group",
    group: "all",
    command: "reboot",
  });
  // A VM cannot be named "group" or "bridge", so these are never VM commands.
  assert.equal(topics.parseCommand("qga/group/cmd/ping"), undefined);
  assert.equal(topics.parseCommand("qga/bridge/cmd/ping"), undefined);
  // A group literally named "cmd" is still a group.
  assert.deepEqual(topics.parseCommand("qga/group/cmd/cmd/x"), { kind: "group", group: "cmd", command: "x" });
});

test("parseCommand round-trips what the builders subscribe to", () => {
  const filter = topics.vmCommands("web1");
  const concrete = filter.replace("+", "exec");
  assert.deepEqual(topics.parseCommand(concrete), { kind: "vm", vm: "web1", command: "exec" });
  const group = topics.groupCommands("proxmox").replace("+", "status");
  assert.deepEqual(topics.parseCommand(group), { kind: "group", group: "proxmox", command: "status" });
});

test("parseCommand refuses anything else", () => {
  const refused = [
    "qga/group/x/cmd/", // empty command level
    "qga/web1/cmd/", // empty command level
    "qga/web1/cmd", // no command level
    "qga//cmd/ping", // empty VM level
    "qga/group//cmd/ping", // empty group level
    "qga/web1/cmd/ping/extra", // extra level
    "qga/group/x/cmd/ping/extra",
    "qga/web1/reply/ping", // our own reply topic
    "qga/web1/status",
    "qga/bridge/host1/state",
    "qga/group/x/reply/ping",
    "other/web1/cmd/ping", // wrong base
    "qgax/web1/cmd/ping", // base is a prefix of the level, not the level
    "qga", // the base alone
    "qga/",
    "/qga/web1/cmd/ping", // leading empty level
    "qga/web1/cmd/+", // a filter, not a topic
    "qga/web1/cmd/#",
    "",
  ];
  for (const topic of refused) {
    assert.equal(topics.parseCommand(topic), undefined, topic);
  }
});

test("assertPublishable refuses what no PUBLISH may carry", () => {
  for (const bad of ["", "a/+", "a/#", "+", "#", "a\u0000b"])
    assert.throws(() => assertPublishable(bad), TypeError);
  for (const good of ["a", "a/b", "/a", "a//b", "$share-like/x"])
    assert.doesNotThrow(() => assertPublishable(good));
});

test("the caller's topics: group commands, its own reply topic, every VM's replies, watch filters", () => {
  const t = new Topics("site/qga", "caller-1");
  assert.equal(t.groupCommand("web", "ping"), "site/qga/group/web/cmd/ping");
  assert.equal(t.callerReplies(), "site/qga/bridge/caller-1/replies");
  assert.equal(t.everyReply("ping"), "site/qga/+/reply/ping");
  assert.equal(t.isReply("site/qga/web1/reply/ping", "ping"), true);
  assert.equal(t.isReply("site/qga/web1/reply/status", "ping"), false);
  assert.equal(t.isReply("site/qga/web1/x/reply/ping", "ping"), false);
  assert.equal(t.isReply("other/web1/reply/ping", "ping"), false);
  assert.deepEqual(t.vmOutputs(), ["site/qga/+/status", "site/qga/+/availability", "site/qga/+/event"]);
  assert.deepEqual(t.vmOutputs("web1"), [
    "site/qga/web1/status",
    "site/qga/web1/availability",
    "site/qga/web1/event",
  ]);
  assert.throws(() => t.groupCommand("web", "a/b"), /single MQTT topic level/);
  assert.throws(() => t.vmOutputs("bridge"), /reserved/);
});
