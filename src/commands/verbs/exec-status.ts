import { WorkerError } from "../../errors.js";
import { argInt, argsObject } from "../../qga/catalogue/scalars.js";
import { pollOnce } from "./exec.js";
import { defineVerb } from "./verb.js";

/**
 * One status of a program started by exec (or by a raw guest-exec): `exited: false` while it runs; once
 * it exited, exec's result, kept by the worker, so asking again (or after exec's own poll reaped it)
 * still answers.
 */
export const execStatus = defineVerb({
  name: "exec-status",
  set: "exec",
  args: argsObject({ pid: argInt() }),
  async run(context, args) {
    const state = await pollOnce(context, context.execs, args.pid);
    if (state === undefined) {
      throw new WorkerError(
        "timeout",
        `no status for pid ${args.pid} from the agent within the request's timeout of ${context.timeoutMs / 1000} s`,
        { details: { pid: args.pid } },
      );
    }
    return state;
  },
});
