import { PolicySetName } from "../config/schema.js";
import { type CommandName, catalogue, lookupCommand } from "../qga/catalogue/index.js";
import { isVerbName, verbNames, verbSet } from "./verbs/index.js";

/** The worker's own channel management: never run on request, whatever the policy says. */
const RESERVED_COMMANDS = new Set<string>(["guest-sync", "guest-sync-delimited"]);

/** The raw commands of each set that is not decided by the catalogue's `readOnly` flag. */
const RAW_SETS: Record<Exclude<PolicySetName, "read" | "all">, readonly CommandName[]> = {
  power: ["guest-shutdown", "guest-suspend-disk", "guest-suspend-ram", "guest-suspend-hybrid"],
  time: ["guest-set-time"],
  freeze: ["guest-fsfreeze-freeze", "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim"],
  exec: ["guest-exec", "guest-exec-status"],
  files: [
    "guest-file-open",
    "guest-file-close",
    "guest-file-read",
    "guest-file-write",
    "guest-file-seek",
    "guest-file-flush",
  ],
  users: ["guest-set-user-password", "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys"],
};

function membersOf(set: PolicySetName): string[] {
  const verbs = verbNames.filter((verb) => set === "all" || verbSet(verb) === set);
  const commands = Object.values(catalogue)
    .filter((spec) => !RESERVED_COMMANDS.has(spec.name))
    .filter((spec) => {
      if (set === "all") return true;
      if (set === "read") return spec.readOnly;
      return (RAW_SETS[set] as readonly string[]).includes(spec.name);
    })
    .map((spec) => spec.name);
  return [...verbs, ...commands];
}

/** The named set a command or verb belongs to (`all` for the commands only `all` allows). */
export function setOf(command: string): PolicySetName {
  if (isVerbName(command)) return verbSet(command);
  if (lookupCommand(command)?.readOnly) return "read";
  for (const [set, names] of Object.entries(RAW_SETS)) {
    if ((names as readonly string[]).includes(command)) return set as PolicySetName;
  }
  return "all";
}

/** Whether a command or verb only reads (the `read` set): such commands are logged at debug, not info. */
export function isReadOnly(command: string): boolean {
  if (isVerbName(command)) return verbSet(command) === "read";
  return lookupCommand(command)?.readOnly === true;
}

/** Expands a policy list (sets and names) to the names it allows; unknown entries are returned as problems. */
export function expandPolicyList(entries: readonly string[]): { allowed: Set<string>; unknown: string[] } {
  const allowed = new Set<string>();
  const unknown: string[] = [];
  for (const entry of entries) {
    const set = PolicySetName.safeParse(entry);
    if (set.success) {
      for (const name of membersOf(set.data)) allowed.add(name);
    } else if (isVerbName(entry) || (Object.hasOwn(catalogue, entry) && !RESERVED_COMMANDS.has(entry))) {
      allowed.add(entry);
    } else {
      unknown.push(entry);
    }
  }
  return { allowed, unknown };
}

export interface PolicyConfig {
  readonly default: readonly string[];
  readonly groups: Readonly<Record<string, readonly string[]>>;
  readonly vms: Readonly<Record<string, readonly string[]>>;
}

/**
 * Which commands a VM may run: its own entry under `policy.vms` if it has one; else the union of the
 * entries of its groups that have one; else `policy.default`. Most specific wins, so a VM can be
 * locked down below its group.
 */
export class Policy {
  private readonly expanded = new Map<readonly string[], Set<string>>();
  /** The allowed names of each combination of groups asked for so far (by the groups, joined). */
  private readonly unions = new Map<string, Set<string>>();

  constructor(private readonly config: PolicyConfig) {
    const problems: string[] = [];
    const check = (where: string, entries: readonly string[]) => {
      const { allowed, unknown } = expandPolicyList(entries);
      this.expanded.set(entries, allowed);
      for (const name of unknown)
        problems.push(`${where}: "${name}" is neither a policy set nor a command or verb`);
    };
    check("policy.default", config.default);
    for (const [group, entries] of Object.entries(config.groups)) check(`policy.groups.${group}`, entries);
    for (const [vm, entries] of Object.entries(config.vms)) check(`policy.vms.${vm}`, entries);
    this.problems = problems;
  }

  /** Entries that name nothing: the configuration is refused with these. */
  readonly problems: readonly string[];

  allowedFor(vm: string, groups: readonly string[]): Set<string> {
    const own = Object.hasOwn(this.config.vms, vm) ? this.config.vms[vm] : undefined;
    if (own) return this.expanded.get(own)!;
    const fromGroups = groups
      .filter((group) => Object.hasOwn(this.config.groups, group))
      .map((group) => this.expanded.get(this.config.groups[group]!)!);
    if (fromGroups.length === 0) return this.expanded.get(this.config.default)!;
    // Asked on every request: the union of a group combination is built once.
    const key = groups.join("\u0000");
    let union = this.unions.get(key);
    if (!union) {
      union = new Set(fromGroups.flatMap((set) => [...set]));
      this.unions.set(key, union);
    }
    return union;
  }

  /** The configuration keys that decide what `vm` may run: its own entry, its groups', or the default. */
  decidedBy(vm: string, groups: readonly string[]): string[] {
    if (Object.hasOwn(this.config.vms, vm)) return [`policy.vms.${vm}`];
    const grouped = groups.filter((group) => Object.hasOwn(this.config.groups, group));
    return grouped.length > 0 ? grouped.map((group) => `policy.groups.${group}`) : ["policy.default"];
  }

  allows(vm: string, groups: readonly string[], command: string): boolean {
    return this.allowedFor(vm, groups).has(command);
  }
}

export function isReservedCommand(name: string): boolean {
  return RESERVED_COMMANDS.has(name);
}
