import type { Logger } from "pino";
import type { z } from "zod";
import type { Config, Restriction } from "../../config/schema.js";
import type { StatusSnapshot } from "../../status/snapshot.js";
import type { VerbName } from "../policy.js";
import type { RequestAgent } from "../restricted-agent.js";
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
}

export interface VmEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** One verb of the contract: its argument schema (strict) and what it does. */
export interface Verb<A extends z.ZodType = z.ZodType> {
  readonly name: VerbName;
  readonly args: A;
  run(context: VerbContext, args: z.output<A>): Promise<unknown>;
}

export function defineVerb<A extends z.ZodType>(verb: Verb<A>): Verb<A> {
  return verb;
}
