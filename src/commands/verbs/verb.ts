import type { Logger } from "pino";
import type { z } from "zod";
import type { Config, PolicySetName, Restriction } from "../../config/schema.js";
import type { StatusSnapshot } from "../../status/snapshot.js";
import type { RequestAgent } from "../restricted-agent.js";
import type { Transfers } from "../transfer/transfers.js";
import type { ExecTracker } from "./exec-tracker.js";

/** What a verb may use: the VM's agent, the request's time budget, and the VM's status poller. */
export interface VerbContext {
  readonly vm: string;
  /** The VM's agent behind its restrictions. */
  readonly agent: RequestAgent;
  /** The request's timeout; a verb that makes several agent calls divides it between them. */
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly log: Logger;
  readonly pollStatus: () => Promise<StatusSnapshot>;
  /** The configured limits (exec output, stdin, file sizes and chunks). */
  readonly limits: Config["limits"];
  /** What `exec` may start and which paths the file verbs may touch, for this VM. */
  readonly restriction: Restriction;
  /** Publishes an event on the VM's event topic (`{event: "...", ...}`). */
  readonly emit: (event: VmEvent) => void;
  /** The VM's programs started by `exec`, and the results the agent hands out only once. */
  readonly execs: ExecTracker;
  /** The VM's file transfers in parts (put-begin … put-end, get-begin … get-end). */
  readonly transfers: Transfers;
}

export interface VmEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** The policy set a verb belongs to: every verb is in one named set (and in `all`). */
export type VerbSet = Exclude<PolicySetName, "all">;

/**
 * One verb of the contract, all it takes to run it: its name, the policy set that allows it, its
 * argument schema (strict) and what it does. The path checks of `restrictions` are the verb's own (exec,
 * the file verbs) and are made again on every agent call (RestrictedAgent), as for raw commands.
 */
export interface Verb<A extends z.ZodType = z.ZodType, N extends string = string> {
  readonly name: N;
  readonly set: VerbSet;
  readonly args: A;
  run(context: VerbContext, args: z.output<A>): Promise<unknown>;
}

export function defineVerb<const N extends string, A extends z.ZodType>(verb: Verb<A, N>): Verb<A, N> {
  return verb;
}
