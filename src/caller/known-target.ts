import type { InventoryVm } from "../census/fleet-census.js";
import { ALL_GROUP } from "../mqtt/topics.js";
import { knownList } from "./known-list.js";
import type { CallTarget } from "./target.js";

/** Why a target cannot be called, as a stable code (for scripts and tests) and words for a person. */
export interface TargetProblem {
  readonly code: "no_workers" | "no_vms" | "unknown_vm" | "unknown_group";
  readonly message: string;
}

/**
 * Whether anyone could answer `target`, from the workers' retained info: a target nobody serves would only
 * be waited for until the timeout and end in an empty table, so it is a usage error at once. A VM whose
 * worker is offline is known (its worker's info still lists it): the call reports it as worker_offline.
 */
export function targetProblem(
  target: CallTarget,
  inventory: readonly InventoryVm[],
  workers: readonly string[],
  infoFilter: string,
): TargetProblem | undefined {
  if (workers.length === 0) return { code: "no_workers", message: noWorkers(infoFilter) };
  const names = inventory.map((vm) => vm.name);
  const servedBy = `the workers (${knownList("", workers)}) serve no VMs`;
  if (target.kind === "vm") {
    if (names.includes(target.vm)) return undefined;
    const known = names.length > 0 ? `known: ${knownList(target.vm, names)}` : servedBy;
    return { code: "unknown_vm", message: `${target.vm} is not served by any worker; ${known}` };
  }
  if (target.group === ALL_GROUP) {
    return names.length > 0 ? undefined : { code: "no_vms", message: `nothing to call: ${servedBy}` };
  }
  const groups = inventory.flatMap((vm) => vm.groups);
  if (groups.includes(target.group)) return undefined;
  const known =
    groups.length > 0
      ? `known groups: ${knownList(target.group, groups)}`
      : names.length > 0
        ? `the VMs are in no group but ${ALL_GROUP}`
        : servedBy;
  return { code: "unknown_group", message: `no VM is in group ${target.group}; ${known}` };
}

/** What `call` and `list` say when no worker's info is on the broker: the usual cause is a wrong URL or base. */
export function noWorkers(infoFilter: string): string {
  return `no worker has published its info on ${infoFilter}: is a worker running against this broker and base topic?`;
}
