import { getBegin } from "../transfer/get-begin.js";
import { getEnd } from "../transfer/get-end.js";
import { getPart } from "../transfer/get-part.js";
import { putBegin } from "../transfer/put-begin.js";
import { putEnd } from "../transfer/put-end.js";
import { putPart } from "../transfer/put-part.js";
import { transferAbort } from "../transfer/transfer-abort.js";
import { exec } from "./exec.js";
import { execStatus } from "./exec-status.js";
import { freeze, thaw } from "./freeze.js";
import { ping } from "./ping.js";
import { halt, reboot, shutdown } from "./power.js";
import { readFile } from "./read-file.js";
import { setPassword } from "./set-password.js";
import { status } from "./status.js";
import { syncTime } from "./sync-time.js";
import type { Verb, VerbSet } from "./verb.js";
import { writeFile } from "./write-file.js";

/** Every verb of the contract (shared/spec/mqtt-api.md): the one list the policy and the runner read. */
const VERB_LIST = [
  ping,
  status,
  shutdown,
  reboot,
  halt,
  freeze,
  thaw,
  syncTime,
  setPassword,
  exec,
  execStatus,
  readFile,
  writeFile,
  putBegin,
  putPart,
  putEnd,
  getBegin,
  getPart,
  getEnd,
  transferAbort,
] as const;

export type VerbName = (typeof VERB_LIST)[number]["name"];

/** The verbs by name. */
export const verbs: Readonly<Record<VerbName, Verb>> = Object.fromEntries(
  VERB_LIST.map((verb) => [verb.name, verb as Verb]),
) as Record<VerbName, Verb>;

export const verbNames: readonly VerbName[] = VERB_LIST.map((verb) => verb.name);

export function isVerbName(name: string): name is VerbName {
  return Object.hasOwn(verbs, name);
}

/** The policy set of a verb. */
export function verbSet(name: VerbName): VerbSet {
  return verbs[name].set;
}

export type { Verb, VerbContext, VerbSet } from "./verb.js";
