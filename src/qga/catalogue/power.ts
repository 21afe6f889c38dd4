import { z } from "zod";
import { defineCommand } from "./define.js";
import { argEnum, argsObject } from "./scalars.js";

/*
 * Power state changes. None of these answers on success (`success-response: false`): the guest goes away
 * instead. They do answer with an error when refused, so a caller learns of failure but never of success.
 */

// Never sent on success; kept as the shape an error-free reply would have, should an agent ever send one.
const noReply = z.looseObject({});

export const guestShutdown = defineCommand({
  name: "guest-shutdown",
  // The schema types mode as a plain string; the agent accepts only these three and refuses the rest.
  args: argsObject({ mode: argEnum(["powerdown", "halt", "reboot"]).optional() }),
  result: noReply,
  since: "0.15.0",
  replies: false,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Power down (default), halt or reboot the guest; no reply on success.",
});

export const guestSuspendDisk = defineCommand({
  name: "guest-suspend-disk",
  args: argsObject({}),
  result: noReply,
  since: "1.1",
  replies: false,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Hibernate the guest (suspend to disk); no reply on success.",
});

export const guestSuspendRam = defineCommand({
  name: "guest-suspend-ram",
  args: argsObject({}),
  result: noReply,
  since: "1.1",
  replies: false,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Suspend the guest to RAM (needs wakeup support in QEMU); no reply on success.",
});

export const guestSuspendHybrid = defineCommand({
  name: "guest-suspend-hybrid",
  args: argsObject({}),
  result: noReply,
  since: "1.1",
  replies: false,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Save the guest to disk and suspend it to RAM; no reply on success.",
});
