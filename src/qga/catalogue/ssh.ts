import { z } from "zod";
import { defineCommand } from "./define.js";
import { argBool, argNonEmptyString, argStringList, argsObject } from "./scalars.js";

/* A guest user's ~/.ssh/authorized_keys (Unix guests only). */

export const guestSshGetAuthorizedKeys = defineCommand({
  name: "guest-ssh-get-authorized-keys",
  args: argsObject({ username: argNonEmptyString() }),
  result: z.looseObject({ keys: z.array(z.string()) }),
  since: "5.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "List the public keys in a guest user's ~/.ssh/authorized_keys.",
});

export const guestSshAddAuthorizedKeys = defineCommand({
  name: "guest-ssh-add-authorized-keys",
  args: argsObject({
    username: argNonEmptyString(),
    keys: argStringList(),
    reset: argBool().optional(),
  }),
  result: z.looseObject({}),
  since: "5.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  secretArgs: true,
  description: "Append public keys to a guest user's authorized_keys (reset: replace the file's keys).",
});

export const guestSshRemoveAuthorizedKeys = defineCommand({
  name: "guest-ssh-remove-authorized-keys",
  args: argsObject({ username: argNonEmptyString(), keys: argStringList() }),
  result: z.looseObject({}),
  since: "5.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  secretArgs: true,
  description: "Remove public keys from a guest user's authorized_keys; absent keys are not an error.",
});
