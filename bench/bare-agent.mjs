import net from "node:net";

const SYNC_ID = 424242;

/**
 * The least a client can do to ping qemu-ga: one socket, the sync handshake, then one write and one line
 * per ping. The floor the library and the worker are measured against. Only the expected line ends a
 * wait: the stray-0xFF error and the sync's own reply must not end the next ping early.
 */
export async function bareAgentSocket(socketPath) {
  const socket = net.connect(socketPath);
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once("connect", resolve));
  /** @type {{ marker: string, resolve: () => void } | undefined} */
  let waiting;
  let buffered = "";
  socket.on("data", (chunk) => {
    buffered += chunk.toString("latin1");
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (waiting && line.includes(waiting.marker)) {
        const done = waiting.resolve;
        waiting = undefined;
        done();
      }
    }
  });
  /** @param {string | Buffer} payload @param {string} marker @returns {Promise<void>} */
  const request = (payload, marker) =>
    new Promise((resolve) => {
      waiting = { marker, resolve };
      socket.write(payload);
    });
  const sync = JSON.stringify({ execute: "guest-sync-delimited", arguments: { id: SYNC_ID } });
  await request(Buffer.concat([Buffer.from([0xff]), Buffer.from(sync)]), `"return": ${SYNC_ID}`);
  return {
    ping: () => request('{"execute":"guest-ping","id":"bare"}', '"id": "bare"'),
    close: () => socket.destroy(),
  };
}
