import { z } from "zod";
import { defineCommand } from "./define.js";
import { argsObject, otherVariant, resultCounter, resultInt } from "./scalars.js";

/* CPU time and load average. */

const counter = resultCounter.optional();

// Milliseconds per state from /proc/stat; the optional ones depend on the guest kernel's age.
const linuxCpuStats = z.looseObject({
  type: z.literal("linux"),
  cpu: resultInt,
  user: resultCounter,
  nice: resultCounter,
  system: resultCounter,
  idle: resultCounter,
  iowait: counter,
  irq: counter,
  softirq: counter,
  steal: counter,
  guest: counter,
  guestnice: counter,
});

export const guestGetCpustats = defineCommand({
  name: "guest-get-cpustats",
  args: argsObject({}),
  result: z.array(z.union([linuxCpuStats, otherVariant("type", ["linux"])])),
  since: "7.1",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Per-CPU time spent in user, system, idle and other states, in milliseconds (Linux guests).",
});

export const guestGetLoad = defineCommand({
  name: "guest-get-load",
  args: argsObject({}),
  result: z.looseObject({ load1m: z.number(), load5m: z.number(), load15m: z.number() }),
  since: "10.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest load average over 1, 5 and 15 minutes (emulated from CPU usage on Windows).",
});
