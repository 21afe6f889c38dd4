// The floor's MQTT half, in a process of its own as the worker is: subscribes to echo/cmd/ping and
// republishes each payload, untouched, to echo/reply/ping (QoS 1, MQTT 5, TCP_NODELAY: the worker's
// settings). Plain JavaScript, so that no loader stands between it and MQTT.js. Prints "ready" once
// subscribed. Usage: node bench/echo-relay.mjs mqtt://127.0.0.1:PORT
import net from "node:net";
import mqtt from "mqtt";

const relay = await mqtt.connectAsync(process.argv[2], { protocolVersion: 5 });
if (relay.stream instanceof net.Socket) relay.stream.setNoDelay(true);
await relay.subscribeAsync("echo/cmd/ping", { qos: 1 });
relay.on("message", (_topic, payload) => relay.publish("echo/reply/ping", payload, { qos: 1 }));
process.stdout.write("ready\n");
process.on("SIGTERM", () => relay.end(true, () => process.exit(0)));
