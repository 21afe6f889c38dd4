/**
 * The round trip of `guest-ping` to the real qemu-ga: through the library (GuestAgent, hold policy) beside
 * a bare socket doing the least a client can (one write, wait for the line), in the same run, alternating
 * so both see the same machine. Run: `npx tsx bench/ping-roundtrip.ts [iterations]`.
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { GuestAgent } from "../src/qga/client.js";
import { startRealAgent } from "../test/helpers/qemu-ga.js";
import { fmt, summarize } from "./stats.js";

const iterations = Number(process.argv[2] ?? 2000);

async function bareSocket(path: string): Promise<{ ping: () => Promise<void>; close: () => void }> {
  const socket = net.connect(path);
  await new Promise((resolve) => socket.once("connect", resolve));
  let waiting: (() => void) | undefined;
  let buffered = "";
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("latin1");
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (line.includes('"return": 424242')) waiting?.();
      else if (line.includes('"id": "bare"')) waiting?.();
    }
  });
  const request = (text: string | Buffer) =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      socket.write(text);
    });
  await request(
    Buffer.concat([
      Buffer.from([0xff]),
      Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":424242}}'),
    ]),
  );
  return { ping: () => request('{"execute":"guest-ping","id":"bare"}'), close: () => socket.destroy() };
}

const agent = await startRealAgent();
try {
  const bare = await bareSocket(agent.socket);
  const library: number[] = [];
  const raw: number[] = [];
  // The real agent serves one client at a time: measure one side, then the other, in alternating blocks.
  const block = 100;
  for (let done = 0; done < iterations; done += block) {
    for (let i = 0; i < block; i++) {
      const t = performance.now();
      await bare.ping();
      raw.push(performance.now() - t);
    }
    bare.close();
    const client = new GuestAgent({ address: agent.socket });
    await client.call("guest-ping"); // handshake outside the measurement
    for (let i = 0; i < block; i++) {
      const t = performance.now();
      await client.call("guest-ping");
      library.push(performance.now() - t);
    }
    await client.stop();
    Object.assign(bare, await bareSocket(agent.socket));
  }
  bare.close();
  const lib = summarize(library.slice(block / 2));
  const floor = summarize(raw.slice(block / 2));
  const result = {
    iterations,
    library: lib,
    bareSocket: floor,
    ratioMedian: lib.median / floor.median,
    ratioP99: lib.p99 / floor.p99,
  };
  console.log(JSON.stringify(result));
  console.error(
    `guest-ping round trip, median (p99): library ${fmt(lib.median)} (${fmt(lib.p99)}), bare socket ` +
      `${fmt(floor.median)} (${fmt(floor.p99)}); ratio ${result.ratioMedian.toFixed(2)} (${result.ratioP99.toFixed(2)})`,
  );
} finally {
  await agent.dispose();
}
