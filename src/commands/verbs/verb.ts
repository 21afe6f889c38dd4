import type { Logger } from "pino";
import type { z } from "zod";
import type { GuestAgent } from "../../qga/client.js";
import type { StatusSnapshot } from "../../status/snapshot.js";
import type { VerbName } from "../policy.js";

/** What a verb may use: the VM's agent, the request's time budget, and the VM's status poller. */
export interface VerbContext {
  readonly vm: string;
  readonly agent: GuestAgent;
  /** The request's timeout; a verb that makes several agent calls divides it between them. */
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly log: Logger;
  readonly pollStatus: () => Promise<StatusSnapshot>;
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
