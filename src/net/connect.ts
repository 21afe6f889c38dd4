import net from "node:net";

/**
 * Connects a socket, or fails: with the OS error (code ENOENT, ECONNREFUSED, EACCES, ...) when the connect
 * is refused, with `timedOut()` when the peer never completes it within `timeoutMs`. Callers word both.
 */
export function connectWithin(
  options: net.NetConnectOpts,
  timeoutMs: number,
  timedOut: () => Error,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(timedOut());
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
