import { z } from "zod";
import { defineCommand } from "./define.js";
import { argInt, argsObject, argWideInt, resultInt, resultWideInt } from "./scalars.js";

/* The agent itself and the guest's identity, clock and time zone. */

const noArgs = argsObject({});
const empty = z.looseObject({});

export const guestPing = defineCommand({
  name: "guest-ping",
  args: noArgs,
  result: empty,
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: true,
  description: "Check that the guest agent answers.",
});

// The id is echoed to match a reply to its request, so it has to survive a round trip through a double.
const syncArgs = argsObject({ id: argInt() });

export const guestSync = defineCommand({
  name: "guest-sync",
  args: syncArgs,
  result: resultInt,
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: true,
  description: "Echo an integer id back, to find the reply that follows stale data in the channel.",
});

export const guestSyncDelimited = defineCommand({
  name: "guest-sync-delimited",
  args: syncArgs,
  result: resultInt,
  since: "1.1",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: true,
  description: "Echo an integer id back after a 0xFF sentinel byte, to resynchronise the channel.",
});

const commandInfo = z.looseObject({
  name: z.string(),
  enabled: z.boolean(),
  "success-response": z.boolean(),
});

export const guestInfo = defineCommand({
  name: "guest-info",
  args: noArgs,
  result: z.looseObject({
    version: z.string(),
    supported_commands: z.array(commandInfo),
  }),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: true,
  description:
    "Agent version and every command it knows, with whether each is enabled and replies on success.",
});

export const guestGetTime = defineCommand({
  name: "guest-get-time",
  args: noArgs,
  result: resultWideInt,
  since: "1.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest system time in nanoseconds since 1970-01-01 UTC (past 2^53, so rounded to ~256 ns).",
});

export const guestSetTime = defineCommand({
  name: "guest-set-time",
  args: argsObject({ time: argWideInt().optional() }),
  result: empty,
  since: "1.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Set the guest clock to time (ns since the epoch), or from its RTC when time is omitted.",
});

export const guestGetHostName = defineCommand({
  name: "guest-get-host-name",
  args: noArgs,
  result: z.looseObject({ "host-name": z.string() }),
  since: "2.10",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "The guest's host name.",
});

export const guestGetOsinfo = defineCommand({
  name: "guest-get-osinfo",
  args: noArgs,
  // Every member is optional: POSIX guests omit what their os-release file lacks.
  result: z.looseObject({
    "kernel-release": z.string().optional(),
    "kernel-version": z.string().optional(),
    machine: z.string().optional(),
    id: z.string().optional(),
    name: z.string().optional(),
    "pretty-name": z.string().optional(),
    version: z.string().optional(),
    "version-id": z.string().optional(),
    variant: z.string().optional(),
    "variant-id": z.string().optional(),
  }),
  since: "2.10",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest operating system: kernel (uname) and os-release fields.",
});

export const guestGetTimezone = defineCommand({
  name: "guest-get-timezone",
  args: noArgs,
  result: z.looseObject({ zone: z.string().optional(), offset: resultInt }),
  since: "2.10",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest time zone name and its offset from UTC in seconds.",
});
