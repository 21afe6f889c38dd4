import { z } from "zod";
import { defineCommand } from "./define.js";
import { argCount, argStringList, argsObject, resultInt } from "./scalars.js";

/*
 * Filesystem freeze (for consistent snapshots) and trim. While frozen, qemu-ga disables every command but
 * the few on its allow-list, thaw among them: a guest left frozen is an outage.
 */

export const guestFsfreezeStatus = defineCommand({
  name: "guest-fsfreeze-status",
  args: argsObject({}),
  result: z.enum(["thawed", "frozen"]),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: true,
  description: 'Whether the guest\'s filesystems are "thawed" or "frozen".',
});

export const guestFsfreezeFreeze = defineCommand({
  name: "guest-fsfreeze-freeze",
  args: argsObject({}),
  result: resultInt,
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Sync and freeze all local guest filesystems; returns how many were frozen.",
});

export const guestFsfreezeFreezeList = defineCommand({
  name: "guest-fsfreeze-freeze-list",
  args: argsObject({ mountpoints: argStringList().optional() }),
  result: resultInt,
  since: "2.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Sync and freeze the listed mount points (all when omitted); returns how many were frozen.",
});

export const guestFsfreezeThaw = defineCommand({
  name: "guest-fsfreeze-thaw",
  args: argsObject({}),
  result: resultInt,
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: true,
  readOnly: false,
  description: "Thaw all frozen guest filesystems; returns how many were thawed.",
});

export const guestFstrim = defineCommand({
  name: "guest-fstrim",
  args: argsObject({ minimum: argCount().optional() }),
  result: z.looseObject({
    paths: z.array(
      z.looseObject({
        path: z.string(),
        trimmed: resultInt.optional(),
        minimum: resultInt.optional(),
        error: z.string().optional(),
      }),
    ),
  }),
  since: "1.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description:
    "Discard unused blocks on the guest's filesystems (free ranges below minimum bytes may be kept).",
});
