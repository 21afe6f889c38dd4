// A bare relay, in a process of its own as the worker is (QoS 1, MQTT 5, TCP_NODELAY: the worker's
// settings). Plain JavaScript, so that no loader stands between it and MQTT.js. Prints "ready" once
// subscribed.
//   node bench/echo-relay.mjs URL          echo/cmd/ping -> echo/reply/ping, the payload untouched (the
//                                          latency floor's MQTT half)
//   node bench/echo-relay.mjs URL BASE     BASE/<vm>/cmd/ping -> BASE/<vm>/reply/ping with the smallest reply
//                                          the load generator accepts ({"id","vm","ok":true}): the ceiling
//                                          of the broker and load generator, with no worker and no agent
//   node bench/echo-relay.mjs URL --agent SOCKET
//                                          echo/cmd/ping -> guest-ping on qemu-ga's SOCKET -> echo/reply/ping:
//                                          a bare bridge, the least a worker must do (no parsing, no checks)
import net from "node:net";
import mqtt from "mqtt";
import { bareAgentSocket } from "./bare-agent.mjs";

const [url, base, agentSocket] = process.argv.slice(2);
const relay = await mqtt.connectAsync(url, { protocolVersion: 5 });
if (relay.stream instanceof net.Socket) relay.stream.setNoDelay(true);
if (base === "--agent") {
  const agent = await bareAgentSocket(agentSocket);
  await relay.subscribeAsync("echo/cmd/ping", { qos: 1 });
  // The bare socket waits for one ping at a time: requests that come together take turns.
  let turn = Promise.resolve();
  relay.on("message", (_topic, payload) => {
    turn = turn.then(() => agent.ping()).then(() => relay.publish("echo/reply/ping", payload, { qos: 1 }));
  });
} else if (base) {
  await relay.subscribeAsync(`${base}/+/cmd/ping`, { qos: 1 });
  relay.on("message", (topic, payload) => {
    const vm = topic.split("/")[1];
    const { id } = JSON.parse(payload.toString());
    relay.publish(`${base}/${vm}/reply/ping`, JSON.stringify({ id, vm, ok: true }), { qos: 1 });
  });
} else {
  await relay.subscribeAsync("echo/cmd/ping", { qos: 1 });
  relay.on("message", (_topic, payload) => relay.publish("echo/reply/ping", payload, { qos: 1 }));
}
process.stdout.write("ready\n");
process.on("SIGTERM", () => relay.end(true, () => process.exit(0)));
