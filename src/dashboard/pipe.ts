import type net from "node:net";
import type { Logger } from "pino";
import type { RawData, WebSocket } from "ws";

/** Above this much unsent to the browser the broker's socket is paused; below LOW it reads again. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;
/** A broker that does not finish closing its side in this time is cut off. */
const END_GRACE_MS = 5_000;

function bytesOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A WebSocket close reason is at most 123 bytes. */
function closeReason(text: string): string {
  return Buffer.byteLength(text) <= 123 ? text : `${Buffer.from(text).subarray(0, 120).toString()}...`;
}

/**
 * Pipes one browser WebSocket to one broker socket, byte for byte, in both directions, without looking
 * inside: the MQTT session (its CONNECT with the person's own user and password) is the browser's. Each
 * side is paused while the other cannot keep up, so a slow browser or broker holds memory to about
 * HIGH_WATER per connection; when either side closes, so does the other. Resolves once both are closed.
 */
export function pipeWebSocket(ws: WebSocket, socket: net.Socket, log: Logger): Promise<void> {
  const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const wsClosed = new Promise<void>((resolve) => ws.once("close", () => resolve()));

  socket.setNoDelay(true);
  let waitingForDrain = false;
  ws.on("message", (data) => {
    if (socket.destroyed) return;
    if (!socket.write(bytesOf(data)) && !waitingForDrain) {
      waitingForDrain = true;
      ws.pause();
      socket.once("drain", () => {
        waitingForDrain = false;
        ws.resume();
      });
    }
  });
  socket.on("data", (chunk: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(chunk, { binary: true }, () => {
      if (socket.isPaused() && ws.bufferedAmount < LOW_WATER) socket.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) socket.pause();
  });

  ws.once("close", () => {
    // The browser has gone: what it sent last (a DISCONNECT) still reaches the broker, then the socket ends.
    socket.end();
    setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
  });
  ws.on("error", (error) => {
    log.debug({ err: error }, "dashboard: browser WebSocket error");
    socket.destroy();
  });
  socket.on("error", (error) => {
    log.info({ err: error }, "dashboard: the broker connection failed");
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)
      ws.close(1011, closeReason(`broker connection failed: ${error.message}`));
  });
  socket.once("close", () => {
    if (ws.readyState === ws.OPEN) ws.close(1000, "the broker closed the connection");
    // A browser that never answers the close handshake does not keep the connection.
    setTimeout(() => ws.terminate(), END_GRACE_MS).unref();
  });
  return Promise.all([socketClosed, wsClosed]).then(() => {});
}
