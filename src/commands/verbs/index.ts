import type { VerbName } from "../policy.js";
import { ping } from "./ping.js";
import { status } from "./status.js";
import type { Verb } from "./verb.js";

/** The verbs this worker runs; a verb of the contract missing here answers `unsupported`. */
export const verbs: Partial<Record<VerbName, Verb>> = { ping, status };

export type { Verb, VerbContext } from "./verb.js";
