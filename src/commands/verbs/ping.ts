import { performance } from "node:perf_hooks";
import { z } from "zod";
import { defineVerb } from "./verb.js";

/** `guest-ping`, answered with the round trip in milliseconds (three decimals: µs are what differs). */
export const ping = defineVerb({
  name: "ping",
  set: "read",
  args: z.strictObject({}),
  async run(context) {
    const started = performance.now();
    await context.agent.call("guest-ping", {}, { timeoutMs: context.timeoutMs });
    return { rtt_ms: Math.round((performance.now() - started) * 1000) / 1000 };
  },
});
