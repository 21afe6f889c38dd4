import { argsObject } from "../../qga/catalogue/scalars.js";
import { HostClock } from "../../status/clock.js";
import { timeOffsetMs } from "../../status/derive.js";
import { remainingMs } from "./deadline.js";
import { defineVerb, type VerbContext } from "./verb.js";

interface Reading {
  /** Guest clock minus host clock, corrected for the round trip (as the status snapshot's time_offset_ms). */
  readonly offsetMs: number;
  readonly rttMs: number;
}

/**
 * Sets the guest clock from the host's: the offset is read (`guest-get-time`), the host's time is sent
 * (`guest-set-time`), and the offset is read again, so the reply shows what changed and how well it took.
 *
 * Precision: the time travels as nanoseconds since the epoch (~1.8e18), past 2^53, so a JS number holds it
 * only to the nearest 256 ns; JSON.stringify writes such a number as plain integer digits (below 1e21),
 * which the agent reads as an exact int64. 256 ns is far below what limits the result: the request's
 * one-way delay, estimated as half the measured round trip and added to the time sent, and the agent's
 * microsecond settimeofday. The three calls share the request's timeout.
 */
export const syncTime = defineVerb({
  name: "sync-time",
  set: "time",
  args: argsObject({}),
  async run(context) {
    const clock = new HostClock();
    const before = await readOffset(context, clock);
    const sendMs = clock.now() + before.rttMs / 2;
    await context.agent.call(
      "guest-set-time",
      { time: Math.round(sendMs * 1e6) },
      { timeoutMs: remainingMs(context, "before guest-set-time") },
    );
    const after = await readOffset(context, clock);
    context.log.info(
      { offset_before_ms: before.offsetMs, offset_after_ms: after.offsetMs },
      "set the guest clock from the host's",
    );
    return { offset_before_ms: before.offsetMs, offset_after_ms: after.offsetMs };
  },
});

async function readOffset(context: VerbContext, clock: HostClock): Promise<Reading> {
  const timeoutMs = remainingMs(context, "before guest-get-time");
  const before = clock.now();
  const guestNs = await context.agent.call("guest-get-time", {}, { timeoutMs });
  const after = clock.now();
  return { offsetMs: timeOffsetMs(guestNs, before, after), rttMs: after - before };
}
