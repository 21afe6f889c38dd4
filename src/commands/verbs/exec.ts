import { z } from "zod";
import { isInternal, toReplyError, WorkerError } from "../../errors.js";
import {
  argBool,
  argEnum,
  argString,
  argStringList,
  argsObject,
  describePath,
} from "../../qga/catalogue/scalars.js";
import { argPath } from "../paths.js";
import { base64When } from "./base64-when.js";
import { CODE_PAGES, type CodePage } from "./codepages.js";
import { beforeDeadline, remainingMs, sleep } from "./deadline.js";
import { type ExecFinished, type ExecState, type ExecTracker, KEEP_MINUTES } from "./exec-tracker.js";
import { allowedProgram } from "./guest-paths.js";
import { inCodePage } from "./output.js";
import { defineVerb, type VerbContext } from "./verb.js";

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 1000;
// A status call is not cut at the request's deadline: its reply may be the one that reaped the process,
// and that result must reach the tracker even when the request has already answered `timeout`.
const STATUS_CALL_MIN_MS = 5000;

const envEntry = argString().refine((entry) => /^[^=]+=/.test(entry), {
  error: (iss) => `${describePath(iss.path)} must be NAME=value`,
});

const ExecArgs = argsObject({
  path: argPath(),
  args: argStringList().optional(),
  env: z.array(envEntry).optional(),
  stdin: argString().optional(),
  stdin_encoding: argEnum(["utf8", "base64"]).default("utf8"),
  capture: argBool().default(true),
  // auto: text when the output is valid UTF-8, else base64. A code page: text decoded from it, byte-exact.
  output_encoding: argEnum(["auto", ...CODE_PAGES]).default("auto"),
}).superRefine(base64When("stdin", "stdin_encoding", "stdin must be base64 (standard alphabet, padded)"));

/**
 * `guest-exec`, then `guest-exec-status` polled with a backoff from a few ms (most commands are done by
 * then) to 1 s, until the program exits or the request's deadline passes.
 */
export const exec = defineVerb({
  name: "exec",
  set: "exec",
  args: ExecArgs,
  async run(context, args) {
    const path = await allowedProgram(context, args.path);
    const stdin = args.stdin === undefined ? undefined : Buffer.from(args.stdin, args.stdin_encoding);
    if (stdin && stdin.length > context.limits.stdinBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `args.stdin: ${stdin.length} bytes, over the limit of ${context.limits.stdinBytes} (limits.stdinBytes)`,
      );
    }
    const tracker = context.execs;
    const started = Date.now();
    const { pid } = await context.agent.call(
      "guest-exec",
      {
        path,
        ...(args.args ? { arg: args.args } : {}),
        ...(args.env ? { env: args.env } : {}),
        ...(stdin ? { "input-data": stdin.toString("base64") } : {}),
        // The flag, not the 8.0 mode enum: agents before 8.0 (Debian 12's 7.2) take only the flag.
        ...(args.capture ? { "capture-output": true } : {}),
      },
      { timeoutMs: remainingMs(context, "before the program could be started") },
    );
    tracker.started(pid, started);
    context.log.debug({ pid }, "exec started");
    let delay = FIRST_POLL_MS;
    for (;;) {
      await sleep(Math.min(delay, context.deadline - Date.now()));
      if (Date.now() >= context.deadline) throw stillRunning(context, pid);
      const state = await pollOnce(context, tracker, pid);
      if (state === undefined) throw stillRunning(context, pid);
      if (state.exited) return args.output_encoding === "auto" ? state : inPage(state, args.output_encoding);
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  },
});

/** The output as text in a Windows console's code page (stdout_encoding names it); see codepages.ts. */
function inPage(state: ExecFinished, page: CodePage) {
  return {
    ...state,
    stdout: inCodePage({ data: state.stdout, encoding: state.stdout_encoding }, page),
    stderr: inCodePage({ data: state.stderr, encoding: state.stderr_encoding }, page),
    stdout_encoding: page,
    stderr_encoding: page,
  };
}

/**
 * One status, answered before the request's deadline or undefined. A failure keeps its code and gains
 * the pid, so the caller can still ask exec-status for the program it started.
 */
export async function pollOnce(
  context: VerbContext,
  tracker: ExecTracker,
  pid: number,
): Promise<ExecState | undefined> {
  const timeoutMs = Math.max(context.deadline - Date.now(), STATUS_CALL_MIN_MS);
  try {
    const status = tracker.status(pid, context.limits.execOutputBytes, timeoutMs);
    return (await beforeDeadline(status, context.deadline))?.value;
  } catch (error) {
    if (isInternal(error)) throw error;
    const { code, message, ...rest } = toReplyError(error);
    // qemu-ga's words for a pid it does not know, which is also what it says once a status reaped it.
    const why = /Invalid parameter 'pid'/.test(String(rest.desc))
      ? `the agent knows no process with pid ${pid}: it was not started by guest-exec, or its result ` +
        "was collected and is no longer kept by the worker"
      : `${message} (while polling pid ${pid})`;
    throw new WorkerError(code, why, {
      cause: error,
      details: { ...rest, pid },
    });
  }
}

function stillRunning(context: VerbContext, pid: number): WorkerError {
  return new WorkerError(
    "timeout",
    `the program is still running in the guest as pid ${pid} after the request's timeout of ` +
      `${context.timeoutMs / 1000} s; ask for its result with exec-status {"args": {"pid": ${pid}}} ` +
      `(the result is kept for ${KEEP_MINUTES} minutes), or send exec with a longer "timeout"`,
    { details: { pid, running: true } },
  );
}
