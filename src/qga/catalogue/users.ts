import { z } from "zod";
import { defineCommand } from "./define.js";
import { argBase64, argBool, argNonEmptyString, argsObject } from "./scalars.js";

/* Guest user accounts: who is logged in, and setting a password. */

export const guestGetUsers = defineCommand({
  name: "guest-get-users",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      user: z.string(),
      // Fractional seconds since the epoch: a JSON number, not an int.
      "login-time": z.number(),
      domain: z.string().optional(),
    }),
  ),
  since: "2.10",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Users logged in to the guest, each with the time of their earliest login.",
});

export const guestSetUserPassword = defineCommand({
  name: "guest-set-user-password",
  args: argsObject({
    username: argNonEmptyString(),
    // Always base64, even when already crypt()ed, so that any byte survives JSON.
    password: argBase64(),
    crypted: argBool(),
  }),
  result: z.looseObject({}),
  since: "2.3",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  secretArgs: true,
  description: "Set a guest user's password (base64; crypted says whether it is already crypt()ed).",
});
