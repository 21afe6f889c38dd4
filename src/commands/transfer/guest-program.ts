import { WorkerError } from "../../errors.js";
import { authorizeProgram } from "../paths.js";
import { remainingMs, sleep } from "../verbs/deadline.js";
import { pollOnce } from "../verbs/exec.js";
import type { VerbContext } from "../verbs/verb.js";

/** The programs a put runs in the guest (Linux, coreutils or busybox): by absolute path, no shell. */
export const MV = "/bin/mv";
export const CHMOD = "/bin/chmod";
export const RM = "/bin/rm";

const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 200;
const STDERR_CHARS = 512;

/**
 * Why `program` cannot run for this VM (guest-exec disabled in the agent, or not allowed by
 * restrictions.exec), or undefined when it can (or the agent's commands are not known yet: the call
 * itself then decides).
 */
export function cannotRun(context: VerbContext, program: string): string | undefined {
  if (context.transfers.commandEnabled("guest-exec") === false) {
    return "guest-exec is disabled in the guest agent's configuration";
  }
  try {
    authorizeProgram(program, context.restriction.exec, context.vm);
    return undefined;
  } catch {
    return `restrictions.exec of ${context.vm} does not allow ${program}`;
  }
}

/**
 * Runs `program args` through guest-exec (so the VM's restrictions apply) and waits for it, polling
 * until the request's deadline; `agent_error` with its stderr (cut short) unless it exits 0.
 */
export async function runProgram(context: VerbContext, program: string, args: string[]): Promise<void> {
  const started = Date.now();
  const { pid } = await context.agent.call(
    "guest-exec",
    { path: program, arg: args, "capture-output": true },
    { timeoutMs: remainingMs(context, `before ${program} could be started`) },
  );
  context.execs.started(pid, started);
  let delay = FIRST_POLL_MS;
  // Bounded by the deadline: every round sleeps, and remainingMs throws once the deadline has passed.
  for (;;) {
    await sleep(Math.min(delay, remainingMs(context, `while ${program} ran (pid ${pid})`)));
    remainingMs(context, `while ${program} ran (pid ${pid})`);
    const state = await pollOnce(context, context.execs, pid);
    if (state === undefined) {
      throw new WorkerError(
        "timeout",
        `${program} was still running in the guest (pid ${pid}) at the timeout`,
      );
    }
    if (state.exited) {
      if (state.exit_code === 0) return;
      const how =
        state.exit_code === undefined ? `was killed by signal ${state.signal}` : `exited ${state.exit_code}`;
      const stderr = state.stderr_encoding === "utf8" ? state.stderr.slice(0, STDERR_CHARS).trim() : "";
      throw new WorkerError("agent_error", `${program} ${how} in the guest${stderr ? `: ${stderr}` : ""}`, {
        details: { exit_code: state.exit_code, signal: state.signal },
      });
    }
    delay = Math.min(delay * 2, MAX_POLL_MS);
  }
}
