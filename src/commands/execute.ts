import type { Logger } from "pino";
import type { Config, Restriction } from "../config/schema.js";
import { WorkerError } from "../errors.js";
import { describeIssues } from "../qga/validation.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import type { Request } from "./request.js";
import type { RequestAgent } from "./restricted-agent.js";
import type { Transfers } from "./transfer/transfers.js";
import type { ExecTracker } from "./verbs/exec-tracker.js";
import { isVerbName, verbs } from "./verbs/index.js";
import type { VmEvent } from "./verbs/verb.js";

/** The VM a request runs on. */
export interface CommandTarget {
  readonly vm: string;
  readonly groups: readonly string[];
  /** What `exec` may start and which paths the file verbs may touch on this VM (see restrictionFor). */
  readonly restriction: Restriction;
  /** The VM's agent behind that restriction: raw commands and verbs alike go through it. */
  readonly agent: RequestAgent;
  readonly log: Logger;
  readonly pollStatus: () => Promise<StatusSnapshot>;
  readonly emit: (event: VmEvent) => void;
  readonly execs: ExecTracker;
  readonly transfers: Transfers;
}

/**
 * Runs an authorised command on the VM's agent: a raw command goes as it is (the catalogue validates its
 * arguments and its reply), a verb parses its arguments with its own schema and runs.
 */
export async function execute(
  target: CommandTarget,
  command: string,
  request: Request,
  timeoutMs: number,
  limits: Config["limits"],
): Promise<unknown> {
  if (!isVerbName(command)) return target.agent.execute(command, request.args ?? {}, { timeoutMs });
  const verb = verbs[command];
  const args = verb.args.safeParse(request.args ?? {});
  if (!args.success) throw new WorkerError("invalid_arguments", describeIssues(args.error, "args"));
  return verb.run(
    {
      vm: target.vm,
      agent: target.agent,
      timeoutMs,
      deadline: Date.now() + timeoutMs,
      log: target.log,
      pollStatus: target.pollStatus,
      limits,
      restriction: target.restriction,
      emit: target.emit,
      execs: target.execs,
      transfers: target.transfers,
    },
    args.data,
  );
}
