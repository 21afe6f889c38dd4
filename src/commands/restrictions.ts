import type { Restriction, Restrictions } from "../config/schema.js";

/**
 * The restriction that applies to a VM, by the policy's rule: its own entry wins; else its groups' entries
 * together (a program or path any of them allows); else the default. A kind a level leaves unset falls
 * through to the next level, so a group can limit `files` and leave `exec` to the default.
 * `pathFlavour` falls through the same way; groups that disagree leave it to `auto` (the agent says).
 */
export function restrictionFor(
  restrictions: Restrictions,
  vm: string,
  groups: readonly string[],
): Restriction {
  const own = Object.hasOwn(restrictions.vms, vm) ? restrictions.vms[vm] : undefined;
  const fromGroups = groups
    .filter((group) => Object.hasOwn(restrictions.groups, group))
    .map((group) => restrictions.groups[group]!);
  const pick = (kind: "exec" | "env" | "files"): string[] | undefined => {
    if (own?.[kind]) return own[kind];
    const grouped = fromGroups.flatMap((r) => r[kind] ?? []);
    if (fromGroups.some((r) => r[kind] !== undefined)) return grouped;
    return restrictions.default[kind];
  };
  const exec = pick("exec");
  const env = pick("env");
  const files = pick("files");
  const flavour = pathFlavourOf(own, fromGroups, restrictions.default);
  return {
    ...(flavour ? { pathFlavour: flavour } : {}),
    ...(exec ? { exec } : {}),
    ...(env ? { env } : {}),
    ...(files ? { files } : {}),
  };
}

function pathFlavourOf(
  own: Restriction | undefined,
  groups: readonly Restriction[],
  fallback: Restriction,
): Restriction["pathFlavour"] {
  if (own?.pathFlavour) return own.pathFlavour;
  const grouped = new Set(groups.flatMap((r) => (r.pathFlavour ? [r.pathFlavour] : [])));
  if (grouped.size > 1) return "auto";
  return grouped.values().next().value ?? fallback.pathFlavour;
}
