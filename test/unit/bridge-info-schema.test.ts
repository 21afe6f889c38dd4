import assert from "node:assert/strict";
import { test } from "node:test";
import { BridgeInfoPayload } from "../../src/census/bridge-info-schema.js";
import type { Policy } from "../../src/commands/policy.js";
import type { MqttBus } from "../../src/mqtt/bus.js";
import { BridgeInfo } from "../../src/worker/bridge-info.js";

test("what a worker publishes as its info parses back, member for member, with the schema readers use", () => {
  const policy = { allowedFor: () => new Set(["guest-ping", "exec"]) } as unknown as Policy;
  const info = new BridgeInfo({
    bus: {} as MqttBus,
    topic: "qga/bridge/w1/info",
    worker: "w1",
    version: "1.2.3",
    repeatWindowSeconds: 600,
    policy,
    vms: () => [{ name: "vm1", groups: ["all", "web"], availability: "online" }],
  });
  const published = JSON.parse(JSON.stringify(info.payload()));
  assert.deepEqual(published, {
    worker: "w1",
    version: "1.2.3",
    repeat_window_s: 600,
    vms: [{ name: "vm1", groups: ["all", "web"], agent: "online", commands: ["exec", "guest-ping"] }],
  });
  assert.deepEqual(BridgeInfoPayload.parse(published), published);
});

test("readers are lenient with an info from another version: only the VM list and each VM's name are needed", () => {
  assert.deepEqual(BridgeInfoPayload.parse({ vms: [{ name: "a" }] }), {
    vms: [{ name: "a", groups: [], agent: "offline" }],
  });
  const odd = BridgeInfoPayload.parse({ vms: [{ name: "a", agent: "asleep", extra: 1 }], worker: 7 });
  assert.equal(odd.worker, undefined);
  assert.deepEqual(odd.vms[0], { name: "a", groups: [], agent: "offline", extra: 1 });
  assert.equal(BridgeInfoPayload.safeParse({ vms: [{ groups: [] }] }).success, false);
  assert.equal(BridgeInfoPayload.safeParse({}).success, false);
});
