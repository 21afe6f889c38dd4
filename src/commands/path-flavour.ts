/*
 * How a guest reads paths: POSIX (Linux, the BSDs) or Windows. Restrictions judge paths lexically, so they
 * must know which; `restrictions.*.pathFlavour` says so, or `auto` learns it from the agent's
 * guest-get-osinfo (id "mswindows", from qga/commands-win32.c). Until then a restricted path is refused.
 */

/** How a guest reads paths. */
export type PathFlavour = "posix" | "windows";

/** What a request's checks use: "unknown" while `auto` has not learned the OS (everything refused). */
export type KnownFlavour = PathFlavour | "unknown";

/** The flavour of an OS by its guest-get-osinfo `id`: only Windows' agent says "mswindows". */
export function flavourOfOsId(id: string | undefined): PathFlavour {
  return id === "mswindows" ? "windows" : "posix";
}

/** An agent that can say how its guest reads paths (RestrictedAgent). */
export interface FlavourSource {
  pathFlavour(): Promise<KnownFlavour>;
}

/** The flavour `agent` reports, or "posix" for an agent that cannot tell (no restriction behind it). */
export async function flavourOf(agent: object): Promise<KnownFlavour> {
  const source = agent as Partial<FlavourSource>;
  return typeof source.pathFlavour === "function" ? source.pathFlavour() : "posix";
}
