import type { InventoryVm } from "../census/fleet-census.js";
import { TopicLevel } from "../config/schema.js";
import { ALL_GROUP, type Topics } from "../mqtt/topics.js";

/** Whom a call addresses: one VM, a group's members, or every VM. */
export type CallTarget =
  | { readonly kind: "vm"; readonly vm: string }
  | { readonly kind: "group"; readonly group: string };

/** `web1`, `group:web` or `all` (the group every VM is in). */
export function parseTarget(text: string): CallTarget {
  const group = text.startsWith("group:")
    ? text.slice("group:".length)
    : text === ALL_GROUP
      ? ALL_GROUP
      : undefined;
  const name = group ?? text;
  const valid = TopicLevel.safeParse(name);
  if (!valid.success)
    throw new TypeError(`"${text}" is not a VM name, group:NAME or all: ${valid.error.issues[0]?.message}`);
  return group !== undefined ? { kind: "group", group } : { kind: "vm", vm: text };
}

/** The topic a request for `target` goes to. */
export function commandTopic(topics: Topics, target: CallTarget, command: string): string {
  return target.kind === "vm"
    ? topics.command(target.vm, command)
    : topics.groupCommand(target.group, command);
}

/** The VMs that should answer, from the workers' inventory; a single VM is expected whatever it says. */
export function expectedVms(target: CallTarget, inventory: readonly InventoryVm[]): string[] {
  if (target.kind === "vm") return [target.vm];
  const members = inventory.filter((vm) => target.group === ALL_GROUP || vm.groups.includes(target.group));
  return [...new Set(members.map((vm) => vm.name))].sort();
}
