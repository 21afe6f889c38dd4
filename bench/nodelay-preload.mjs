// Preload for the bench's "with TCP_NODELAY" variant of the worker (`node --import ./bench/nodelay-preload.mjs`):
// every TCP connection made through net.createConnection (MQTT.js's path) gets setNoDelay(true). It shows
// the effect of the one-line fix suggested in BENCHMARKS.md without changing src/.
import net from "node:net";

const original = net.createConnection;
net.createConnection = (...args) => {
  const socket = original.apply(net, args);
  socket.setNoDelay(true);
  return socket;
};
