import { type StatusSnapshot, Truncated } from "./snapshot.js";

/*
 * The last bound on a snapshot: its size. Each list and string is bounded on its own (guest-bounds.ts),
 * but a guest can fill every list to its bound with names at their longest: then entries are dropped
 * here, and `truncated` says which lists lost some.
 */

/** The lists that can be shortened, all of them arrays of objects. */
const LISTS = ["interfaces", "filesystems", "users", "disks"] as const;
type List = (typeof LISTS)[number];

/** Room kept for `truncated` growing to name every list (its longest form is ~110 bytes). */
const RESERVE = 160;

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/**
 * `snapshot` with its `truncated` in the schema's order and its JSON within `maxBytes` (UTF-8): while
 * over, the list taking the most bytes loses its last entry, so lists far below their share keep every
 * entry. The same object when nothing was to change (the usual case: one stringify of a 1–3 KB snapshot,
 * ~5 µs).
 */
export function fitSnapshot(snapshot: StatusSnapshot, maxBytes: number): StatusSnapshot {
  const bytes = bytesOf(snapshot);
  if (bytes <= maxBytes) return ordered(snapshot, []);
  const fitted: StatusSnapshot = { ...snapshot };
  // Bytes of each entry in its list's JSON; a list of n entries adds n - 1 commas and its brackets.
  const sizes = new Map<List, number[]>();
  const totals = new Map<List, number>();
  for (const list of LISTS) {
    const entries = fitted[list];
    if (!entries || entries.length === 0) continue;
    const each = entries.map(bytesOf);
    sizes.set(list, each);
    totals.set(list, each.reduce((a, b) => a + b, 0) + each.length - 1);
  }
  const cut = new Set<List>();
  let total = bytes;
  const target = maxBytes - RESERVE;
  while (total > target) {
    const largest = largestOf(totals);
    if (largest === undefined) break;
    const each = sizes.get(largest) ?? [];
    const last = each.pop() ?? 0;
    const saved = each.length > 0 ? last + 1 : last;
    total -= saved;
    totals.set(largest, (totals.get(largest) ?? 0) - saved);
    if (each.length === 0) totals.delete(largest);
    cut.add(largest);
  }
  for (const list of cut) {
    const kept = sizes.get(list)?.length ?? 0;
    // Each list is replaced by a shorter copy: the snapshot handed in is not changed.
    (fitted as Record<List, unknown[] | undefined>)[list] = fitted[list]?.slice(0, kept);
  }
  const result = ordered(fitted, [...cut]);
  if (bytesOf(result) <= maxBytes) return result;
  // Still over: the rest is strings outside the lists, each with a bound of its own, so only bounds far
  // off their defaults get here. The lists go entirely; nothing else can be cut.
  const present = LISTS.filter((list) => result[list] !== undefined);
  for (const list of present) result[list] = [];
  return ordered(result, present);
}

function largestOf(totals: ReadonlyMap<List, number>): List | undefined {
  let largest: List | undefined;
  let most = -1;
  for (const [list, bytes] of totals) {
    if (bytes > most) {
      largest = list;
      most = bytes;
    }
  }
  return largest;
}

/**
 * `truncated` with `more` added, each name once, in the schema's order (so that the facts key of two
 * polls cut alike is the same); the snapshot itself when nothing is to add or reorder.
 */
function ordered(snapshot: StatusSnapshot, more: readonly Truncated[]): StatusSnapshot {
  const cuts = snapshot.truncated;
  if (cuts === undefined && more.length === 0) return snapshot;
  const all = new Set<Truncated>([...(cuts ?? []), ...more]);
  const truncated = Truncated.options.filter((name) => all.has(name));
  return { ...snapshot, truncated };
}
