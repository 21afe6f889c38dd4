import { readdir, stat } from "node:fs/promises";
import path from "node:path";

/**
 * A small glob for absolute agent-socket patterns, because Node 20 has no fs.glob: `*` (any run of
 * characters, also none) and `?` (one character), both within one path segment; every other character is
 * literal. Like the shell, a wildcard does not match a leading `.`, so hidden and temporary entries
 * (`.web1.tmp`) are not VMs unless the pattern spells the dot.
 */

export interface GlobMatch {
  readonly path: string;
  /** The text each `*` matched, in pattern order: the first one names the VM. */
  readonly stars: readonly string[];
}

export interface GlobResult {
  /** Sockets only, sorted by path so "the first" in a name collision is the same on every scan. */
  matches: GlobMatch[];
  /** Folders whose entries decide the result (see watcher.ts): listed ones and the sockets' parents. */
  folders: string[];
  /** Folders or paths that exist but could not be read, with the reason; they were skipped. */
  unreadable: string[];
}

interface Walk {
  readonly dir: string;
  readonly stars: readonly string[];
}

export async function globSockets(pattern: string): Promise<GlobResult> {
  if (!path.isAbsolute(pattern))
    throw new TypeError(`the glob pattern "${pattern}" must be an absolute path`);
  const segments = pattern.split("/").filter((segment) => segment.length > 0);
  const folders = new Set<string>();
  const unreadable: string[] = [];
  let walks: Walk[] = [{ dir: "/", stars: [] }];
  let wildcardSeen = false;

  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (!hasWildcard(segment)) {
      // A literal segment needs no listing. Its parent is watched once below a wildcard (where new VM
      // folders appear) or when it is the socket itself, never above: watching /run would wake every scan.
      if (wildcardSeen || last) for (const p of walks) folders.add(p.dir);
      walks = walks.map((p) => ({ dir: path.join(p.dir, segment), stars: p.stars }));
      continue;
    }
    wildcardSeen = true;
    const matcher = compileSegment(segment);
    const listed = await Promise.all(
      walks.map(async (p) => {
        folders.add(p.dir);
        const names = await listFolder(p.dir, unreadable);
        const found: Walk[] = [];
        for (const name of names) {
          const stars = matcher(name);
          if (stars) found.push({ dir: path.join(p.dir, name), stars: [...p.stars, ...stars] });
        }
        return found;
      }),
    );
    walks = listed.flat();
  }

  const sockets = await Promise.all(walks.map((p) => isSocket(p.dir, unreadable)));
  const matches = walks
    .filter((_, i) => sockets[i])
    .map((p) => ({ path: p.dir, stars: p.stars }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { matches, folders: [...folders], unreadable };
}

function hasWildcard(segment: string): boolean {
  return segment.includes("*") || segment.includes("?");
}

/** The entry names of `dir`, sorted; none when it is missing or unreadable (noted in `unreadable`). */
async function listFolder(dir: string, unreadable: string[]): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    noteUnreadable(dir, error, unreadable);
    return [];
  }
}

/** Only a socket is an agent: a plain file left at the path (a stale copy, a log) is not. */
async function isSocket(file: string, unreadable: string[]): Promise<boolean> {
  try {
    return (await stat(file)).isSocket();
  } catch (error) {
    noteUnreadable(file, error, unreadable);
    return false;
  }
}

// A missing path is the normal case (the VM is not running, the folder is not made yet); anything else
// (permissions, I/O) deserves a word to the person who configured the pattern.
function noteUnreadable(where: string, error: unknown, unreadable: string[]): void {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return;
  unreadable.push(`${where} (${code ?? (error as Error).message})`);
}

/** A matcher for one segment: the text of each `*`, or undefined when the name does not match. */
export function compileSegment(segment: string): (name: string) => string[] | undefined {
  let source = "";
  for (const char of segment) {
    if (char === "*") source += "(.*?)";
    else if (char === "?") source += ".";
    else source += char.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  // `u`: `?` is one character, not one UTF-16 half; `s`: `.` also matches a newline (refused later as a name).
  const regex = new RegExp(`^${source}$`, "su");
  const dotAllowed = segment.startsWith(".");
  return (name) => {
    if (name.startsWith(".") && !dotAllowed) return undefined;
    const match = regex.exec(name);
    return match ? match.slice(1).map((text) => text ?? "") : undefined;
  };
}
