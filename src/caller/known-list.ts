import { editDistance } from "../text/near-match.js";

/**
 * The known names a mistyped one was probably meant to be, closest first: within the shared typo bound
 * (a third of the typed name, 1 to 3 edits; see text/near-match.ts), case ignored. All of them, not only
 * the best: `web3` is as near to `web1` as to `web2`.
 */
export function nearMatches(typed: string, candidates: readonly string[]): string[] {
  const wanted = typed.toLowerCase();
  const max = Math.min(3, Math.max(1, Math.floor(wanted.length / 3)));
  return (
    [...new Set(candidates)]
      .map((name) => ({ name, distance: editDistance(wanted, name.toLowerCase(), max) }))
      // A one- or two-letter name is close to too many others to suggest one of them.
      .filter(({ distance }) => distance <= max && (wanted.length >= 3 || distance === 0))
      .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
      .map(({ name }) => name)
  );
}

/**
 * Every candidate, the near matches of `typed` first (closest first), then the others in order; at most
 * `limit`, with the count of the rest, so a fleet of thousands does not flood the terminal.
 */
export function knownList(typed: string, candidates: readonly string[], limit = 10): string {
  const near = nearMatches(typed, candidates);
  const rest = [...new Set(candidates)].filter((name) => !near.includes(name)).sort();
  const all = [...near, ...rest];
  const shown = all.slice(0, limit).join(", ");
  return all.length > limit ? `${shown} and ${all.length - limit} more` : shown;
}
