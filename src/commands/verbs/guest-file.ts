import { within } from "../../async/within.js";
import { WorkerError } from "../../errors.js";
import { beforeDeadline, remainingMs } from "./deadline.js";
import type { VerbContext } from "./verb.js";

/*
 * Handles are global to the agent and outlive connections: one left open stays open until the agent
 * restarts. So every handle this worker learns of is closed, whatever happened in between, and the close
 * has its own timeout because the request's may already be spent.
 */

const CLOSE_TIMEOUT_MS = 10_000;
// After a failure the reply waits this long for the close, then goes out while the close runs on.
const CLOSE_GRACE_MS = 1_000;
// As for exec status: an open answered after the deadline still yields a handle that must be closed.
const OPEN_CALL_MIN_MS = 5_000;

/** Opens `path` and runs `use` with the handle, closing it afterwards in every case. */
export async function withGuestFile<T>(
  context: VerbContext,
  path: string,
  mode: "r" | "w" | "a",
  use: (handle: number) => Promise<T>,
): Promise<T> {
  const handle = await openFile(context, path, mode);
  let failed = true;
  try {
    const result = await use(handle);
    failed = false;
    return result;
  } finally {
    const closing = closeFile(context, handle);
    await (failed ? within(closing, CLOSE_GRACE_MS) : closing);
  }
}

/** Opens `path`; a handle the agent gives after the deadline is closed. */
export async function openFile(
  context: VerbContext,
  path: string,
  mode: "r" | "r+" | "w" | "a" | "a+",
): Promise<number> {
  const timeoutMs = Math.max(remainingMs(context, "before the file was opened"), OPEN_CALL_MIN_MS);
  const opening = context.agent.call("guest-file-open", { path, mode }, { timeoutMs });
  const opened = await beforeDeadline(opening, context.deadline);
  if (opened) return opened.value;
  opening.then(
    (handle) => void closeFile(context, handle),
    () => {},
  );
  throw new WorkerError(
    "timeout",
    `the agent did not open the file within the request's timeout of ${context.timeoutMs / 1000} s`,
  );
}

/** Never rejects: a close that fails is logged with the handle, so an operator can close it by hand. */
async function closeFile(context: VerbContext, handle: number): Promise<void> {
  try {
    await context.agent.call("guest-file-close", { handle }, { timeoutMs: CLOSE_TIMEOUT_MS });
  } catch (error) {
    context.log.warn(
      { handle, reason: error instanceof Error ? error.message : String(error) },
      "could not close a guest file handle; it stays open in the agent (close it with guest-file-close)",
    );
  }
}
