import type { VerbName } from "../policy.js";
import { exec } from "./exec.js";
import { execStatus } from "./exec-status.js";
import { freeze, thaw } from "./freeze.js";
import { ping } from "./ping.js";
import { halt, reboot, shutdown } from "./power.js";
import { readFile } from "./read-file.js";
import { setPassword } from "./set-password.js";
import { status } from "./status.js";
import { syncTime } from "./sync-time.js";
import type { Verb } from "./verb.js";
import { writeFile } from "./write-file.js";

/** The verbs this worker runs; a verb of the contract missing here answers `unsupported`. */
export const verbs: Partial<Record<VerbName, Verb>> = {
  ping,
  status,
  shutdown,
  reboot,
  halt,
  freeze,
  thaw,
  "sync-time": syncTime,
  "set-password": setPassword,
  exec,
  "exec-status": execStatus,
  "read-file": readFile,
  "write-file": writeFile,
};

export type { Verb, VerbContext } from "./verb.js";
