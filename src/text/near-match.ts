/**
 * "Did you mean …?" for names a person typed: a configuration key, a CLI option, a guest-agent command.
 * One helper, so every suggestion follows the same rule.
 */

/**
 * Damerau-Levenshtein distance in its "optimal string alignment" form: insertions, deletions,
 * substitutions and swaps of two neighbours (`jsno` → `json`) each cost one. With `max`, the work stops
 * as soon as the distance must exceed it, and `max + 1` is returned: a suggestion only needs to know
 * whether a name is close, and the names compared can be long.
 */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  // Three rows of the matrix: the one before the previous is what a swap looks back to.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, before[j - 2]! + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    // Every later row is at least this row's minimum: past the bound, nothing can come back under it.
    if (rowMin > max) return max + 1;
    before = previous;
    previous = current;
  }
  const distance = previous[b.length]!;
  return distance > max ? max + 1 : distance;
}

export interface NearMatchOptions {
  /** The largest distance still taken for a typo; default: a third of the typed name, 1 to 3. */
  readonly maxDistance?: number;
}

/**
 * The candidate closest to `typed`, when it is close enough to be what was meant; else undefined. Case is
 * ignored (`basetopic` → `baseTopic`), then the nearest wins; on a tie, the first candidate given.
 */
export function nearMatch(
  typed: string,
  candidates: Iterable<string>,
  options: NearMatchOptions = {},
): string | undefined {
  const wanted = typed.toLowerCase();
  const max = options.maxDistance ?? Math.min(3, Math.max(1, Math.floor(wanted.length / 3)));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const bound = best ? Math.min(max, best.distance - 1) : max;
    if (bound < 0) break;
    const distance = editDistance(wanted, name.toLowerCase(), bound);
    if (distance <= bound) best = { name, distance };
  }
  // A one- or two-letter name is close to too many others to suggest one of them.
  if (!best || (wanted.length < 3 && best.distance > 0)) return undefined;
  return best.name;
}
