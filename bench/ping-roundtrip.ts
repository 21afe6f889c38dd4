import { performance } from "node:perf_hooks";
import { GuestAgent } from "../src/qga/client.js";
import { startRealAgent } from "../test/helpers/qemu-ga.js";
import { bareAgentSocket } from "./bare-agent.mjs";
import { fmt, summarize } from "./stats.js";

const iterations = Number(process.argv[2] ?? 2000);

const agent = await startRealAgent();
try {
  const bare = await bareAgentSocket(agent.socket);
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
    Object.assign(bare, await bareAgentSocket(agent.socket));
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
