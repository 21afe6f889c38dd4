import { z } from "zod";
import { defineCommand } from "./define.js";
import {
  argAlternate,
  argBase64,
  argBool,
  argEnum,
  argInt,
  argNonEmptyString,
  argStringList,
  argsObject,
  resultBase64,
  resultInt,
} from "./scalars.js";

/*
 * Running programs in the guest: guest-exec starts one (no shell; env replaces the whole environment) and
 * guest-exec-status polls it. The first status after exit reaps the process and frees its output, so a
 * status is not a pure query: asking twice loses the result.
 */

/** GuestExecCaptureOutputMode (8.0). "merged" does not exist on Windows agents. */
export const CAPTURE_OUTPUT_MODES = ["none", "stdout", "stderr", "separated", "merged"] as const;

export const guestExec = defineCommand({
  name: "guest-exec",
  args: argsObject({
    path: argNonEmptyString(),
    arg: argStringList().optional(),
    env: argStringList().optional(),
    "input-data": argBase64().optional(),
    // QAPI alternate GuestExecCaptureOutput: a flag (true = stdout and stderr, separately) or, since 8.0,
    // a mode. Agents before 8.0 accept only the flag.
    "capture-output": argAlternate(
      [argBool(), argEnum(CAPTURE_OUTPUT_MODES)],
      `true, false or one of ${CAPTURE_OUTPUT_MODES.map((m) => `"${m}"`).join(", ")}`,
    ).optional(),
  }),
  result: z.looseObject({ pid: resultInt }),
  since: "2.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Start a program in the guest (no shell) and return its pid; poll guest-exec-status.",
});

export const guestExecStatus = defineCommand({
  name: "guest-exec-status",
  args: argsObject({ pid: argInt() }),
  result: z.looseObject({
    exited: z.boolean(),
    exitcode: resultInt.optional(),
    signal: resultInt.optional(),
    "out-data": resultBase64.optional(),
    "err-data": resultBase64.optional(),
    "out-truncated": z.boolean().optional(),
    "err-truncated": z.boolean().optional(),
  }),
  since: "2.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "State of a guest-exec process; once exited, its code and output (reaped: ask only once).",
});
