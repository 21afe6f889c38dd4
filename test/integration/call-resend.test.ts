import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import mqtt, { type MqttClient } from "mqtt";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * On a clustered broker a reply can be lost in the moment the caller's subscription takes to reach every
 * node. `call` sends a request again, with its id, to a VM that has not answered, when the VM's worker says
 * (bridge info `repeat_window_s`) that it answers a repeated id without running it again. A stand-in
 * worker here loses the first reply on purpose.
 */
const skip = skipWithout("mosquitto");
const base = "resend";
let broker: Mosquitto;
let worker: MqttClient;
/** Every request the stand-in worker received, by VM: its topic and id. */
const seen: Array<{ vm: string; topic: string; id: string }> = [];

before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  worker = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  const info = (vms: string[], window?: number) =>
    JSON.stringify({
      worker: `w-${vms[0]}`,
      ...(window === undefined ? {} : { repeat_window_s: window }),
      vms: vms.map((name) => ({ name, groups: ["all", "lossy"], agent: "online" })),
    });
  // vmA's worker keeps repeats for 10 minutes; vmB's says nothing (an older worker): never sent again.
  await worker.publishAsync(`${base}/bridge/w-vmA/info`, info(["vmA"], 600), { retain: true, qos: 1 });
  await worker.publishAsync(`${base}/bridge/w-vmA/state`, "online", { retain: true, qos: 1 });
  await worker.publishAsync(`${base}/bridge/w-vmB/info`, info(["vmB"]), { retain: true, qos: 1 });
  await worker.publishAsync(`${base}/bridge/w-vmB/state`, "online", { retain: true, qos: 1 });
  worker.on("message", (topic, payload, packet) => {
    const levels = topic.split("/");
    const vms = levels[1] === "group" ? ["vmA", "vmB"] : [levels[1]!];
    const { id } = JSON.parse(payload.toString()) as { id: string };
    for (const vm of vms) {
      const first = !seen.some((request) => request.vm === vm && request.id === id);
      seen.push({ vm, topic, id });
      // The first reply of each VM is "lost": only a repeat is answered.
      if (first) continue;
      const reply = JSON.stringify({ id, vm, command: "guest-ping", ok: true, result: {}, ms: 1 });
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (responseTopic)
        void worker.publishAsync(responseTopic, reply, { qos: 1, properties: { correlationData } });
      else void worker.publishAsync(`${base}/${vm}/reply/guest-ping`, reply, { qos: 1 });
    }
  });
  await worker.subscribeAsync([`${base}/+/cmd/#`, `${base}/group/+/cmd/#`], { qos: 1 });
});

after(async () => {
  await worker?.endAsync();
  await broker?.stop();
});

function cli(args: string[], protocol: string) {
  return runCli(args, {
    QGA_MQTT_MQTT_URL: broker.url,
    QGA_MQTT_MQTT_BASE_TOPIC: base,
    QGA_MQTT_MQTT_PROTOCOL_VERSION: protocol,
  });
}

for (const protocol of ["5", "4"]) {
  test(`a lost reply: the request goes again with its id to that VM and its reply arrives (MQTT ${protocol})`, {
    skip,
  }, async () => {
    seen.length = 0;
    const result = await cli(["call", "vmA", "guest-ping", "--json", "--timeout", "5"], protocol);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const requests = seen.filter((request) => request.vm === "vmA");
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.equal(requests[0]!.id, requests[1]!.id, "the repeat carries the first request's id");
  });
}

test("a group: only the VM whose worker keeps repeats is asked again, on its own topic", {
  skip,
}, async () => {
  seen.length = 0;
  const result = await cli(["call", "group:lossy", "guest-ping", "--json", "--timeout", "2"], "5");
  // vmB never answers (its worker does not say it keeps repeats, so nothing is sent to it again).
  assert.equal(result.code, 3, result.stdout + result.stderr);
  const replies = result.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { vm: string; ok: boolean });
  assert.deepEqual(replies.map((reply) => `${reply.vm}:${reply.ok}`).sort(), ["vmA:true", "vmB:false"]);
  assert.equal(seen.filter((request) => request.vm === "vmB").length, 1, "vmB was asked once");
  const again = seen.filter((request) => request.vm === "vmA").slice(1);
  assert.ok(again.length >= 1);
  assert.ok(again.every((request) => request.topic === `${base}/vmA/cmd/guest-ping`));
});
