import { z } from "zod";
import { defineCommand } from "./define.js";
import {
  argAlternate,
  argBase64,
  argCount,
  argEnum,
  argInt,
  argNonEmptyString,
  argsObject,
  base64DecodedLength,
  isBase64,
  resultBase64,
  resultInt,
} from "./scalars.js";

/*
 * File access through agent-wide handles. Handles outlive the connection that opened them, so none of
 * these is read-only for policy: even a read moves the file position another client may rely on.
 */

/** qemu-ga's own limit for one guest-file-read: 48 MiB, so the base64 reply stays under its 64 MiB token cap. */
export const FILE_READ_MAX = 48 * 1024 * 1024;

/**
 * The fopen() modes qemu-ga maps (guest_file_open_modes in qga/commands-posix.c). The schema says "str"
 * but the agent refuses anything else; Windows agents lack "ab".
 */
export const FILE_OPEN_MODES = [
  "r",
  "rb",
  "w",
  "wb",
  "a",
  "ab",
  "r+",
  "rb+",
  "r+b",
  "w+",
  "wb+",
  "w+b",
  "a+",
  "ab+",
  "a+b",
] as const;

const handleArgs = argsObject({ handle: argInt() });

export const guestFileOpen = defineCommand({
  name: "guest-file-open",
  args: argsObject({ path: argNonEmptyString(), mode: argEnum(FILE_OPEN_MODES).optional() }),
  result: resultInt,
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: 'Open a guest file (fopen() mode, default "r") and return a handle; always close it.',
});

export const guestFileClose = defineCommand({
  name: "guest-file-close",
  args: handleArgs,
  result: z.looseObject({}),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Close a handle from guest-file-open.",
});

export const guestFileRead = defineCommand({
  name: "guest-file-read",
  args: argsObject({ handle: argInt(), count: argCount(FILE_READ_MAX).optional() }),
  result: z.looseObject({ count: resultInt, "buf-b64": resultBase64, eof: z.boolean() }),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Read up to count bytes (default 4096, at most 48 MiB) from a handle, base64-encoded.",
});

export const guestFileWrite = defineCommand({
  name: "guest-file-write",
  args: argsObject({ handle: argInt(), "buf-b64": argBase64(), count: argCount().optional() }).superRefine(
    (value, ctx) => {
      // The agent refuses a count beyond the decoded buffer; saying so here names the cause. zod may run
      // this after other members failed, so it checks its own inputs.
      const buf: unknown = value["buf-b64"];
      if (value.count === undefined || typeof buf !== "string" || !isBase64(buf)) return;
      const available = base64DecodedLength(buf);
      if (value.count > available) {
        ctx.addIssue({
          code: "custom",
          path: ["count"],
          input: value.count,
          message: `count must not exceed the ${available} bytes in buf-b64`,
        });
      }
    },
  ),
  result: z.looseObject({ count: resultInt, eof: z.boolean() }),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Write base64-decoded bytes (all, or the first count) to a handle.",
});

// QAPI alternate GuestFileWhence: the symbolic name (preferred) or the historical numeric code.
const whence = argAlternate(
  [argEnum(["set", "cur", "end"]), z.literal([0, 1, 2])],
  '"set", "cur", "end" or 0, 1, 2',
);

export const guestFileSeek = defineCommand({
  name: "guest-file-seek",
  args: argsObject({ handle: argInt(), offset: argInt(), whence }),
  result: z.looseObject({ position: resultInt, eof: z.boolean() }),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Move a handle's position as fseek() does (whence set/cur/end) and return the new position.",
});

export const guestFileFlush = defineCommand({
  name: "guest-file-flush",
  args: handleArgs,
  result: z.looseObject({}),
  since: "0.15.0",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Flush a handle's buffered writes to the guest kernel.",
});
