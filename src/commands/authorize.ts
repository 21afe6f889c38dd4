import { WorkerError } from "../errors.js";
import { commandNames, lookupCommand } from "../qga/catalogue/index.js";
import { nearMatch } from "../text/near-match.js";
import { isReservedCommand, type Policy, setOf } from "./policy.js";
import { isVerbName, verbNames } from "./verbs/index.js";

/** A verb or a command of the catalogue: a name the metrics may carry as a label. */
export function isKnownCommand(command: string): boolean {
  return isVerbName(command) || lookupCommand(command) !== undefined;
}

/**
 * Refuses a command the VM may not run: unknown (naming the near match), reserved for the worker's own
 * use, or outside the VM's policy (naming the set and the configuration key that decides).
 */
export function authorize(policy: Policy, vm: string, groups: readonly string[], command: string): void {
  if (!isKnownCommand(command)) throw new WorkerError("unknown_command", unknownCommandMessage(command));
  if (isReservedCommand(command)) {
    throw new WorkerError(
      "forbidden",
      `${command} is reserved for the worker's own use of the agent channel`,
    );
  }
  if (!policy.allows(vm, groups, command)) {
    const set = setOf(command);
    const keys = policy.decidedBy(vm, groups).join(" or ");
    throw new WorkerError(
      "forbidden",
      `the policy does not allow ${command} on ${vm} (it is in the "${set}" set; ` +
        `${keys} decides for ${vm}: add ${set === "all" ? command : `"${set}" or ${command}`} there)`,
    );
  }
}

/**
 * Names the close match: the same name in another case or with/without the `guest-` prefix first, else the
 * nearest by edit distance (`guest-get-timezon`, `pign`).
 */
function unknownCommandMessage(command: string): string {
  const lower = command.toLowerCase();
  const candidates = [...commandNames, ...verbNames];
  const close =
    candidates.find(
      (name) => name === lower || name === lower.replace(/^guest-/, "") || name === `guest-${lower}`,
    ) ?? nearMatch(command.slice(0, 64), candidates);
  const hint = close ? ` (did you mean ${close}?)` : "";
  return `${JSON.stringify(command)} is neither a guest-agent command nor a verb${hint}`;
}
