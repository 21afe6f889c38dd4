/*
 * Guest paths of a Windows VM, judged lexically before anything reaches the guest, as paths.ts does for
 * POSIX ones. Windows reads a path in more ways than it is written: `\` and `/` both separate, names are
 * compared without regard to case, a trailing dot or space is stripped ("secret.txt." opens secret.txt),
 * `file:stream` names an alternate data stream, PROGRA~1 an 8.3 alias of a longer name, `CON` or
 * `nul.txt` a device in any folder, and `\\server\share`, `\\?\`, `\\.\` and `\??\` leave the drive letters
 * behind. A path is accepted only in the one form whose meaning is plain: a drive letter, a backslash, and
 * names none of those rules touch. Everything else is refused with the reason, never guessed at.
 *
 * Case: only A-Z and a-z are folded. NTFS folds those and more (é and É), so two paths equal here are
 * the same file there; a path that differs here only in the case of a non-ASCII letter is refused where
 * Windows would have allowed it, never the reverse.
 */

/** A judged path: `path` is the one form sent to the guest, or `why` it cannot be judged. */
export type WindowsPathResult = { ok: true; path: string } | { ok: false; why: string };

const DRIVE_ABSOLUTE = /^[A-Za-z]:[\\/]/;
// CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and the superscript digits Windows also takes), CONIN$, CONOUT$:
// reserved in every folder, with any extension and trailing spaces before it.
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/;
// Not allowed in a Windows name at all (< > " | and control characters); * and ? only in globs.
const INVALID_CHARS = /[<>"|]/;
const WILDCARDS = /[*?]/;

/** Only ASCII letters are folded (see above). */
export function foldAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** Whether the path is written as an absolute Windows path (`C:\…` or `c:/…`); says nothing of its parts. */
export function looksLikeWindowsPath(path: string): boolean {
  return DRIVE_ABSOLUTE.test(path);
}

/** Why the start of `path` is not `X:\`, or undefined when it is. */
function prefixProblem(path: string): string | undefined {
  if (/^[\\/][\\/]/.test(path)) {
    return /^[\\/][\\/][?.][\\/]/.test(path)
      ? "a device or namespace path (\\\\?\\, \\\\.\\) bypasses the checks Windows itself makes"
      : "a UNC path (\\\\server\\share) reaches another machine or a share";
  }
  if (/^[\\/]\?\?[\\/]/.test(path)) return "an NT namespace path (\\??\\) bypasses the drive letters";
  if (/^[A-Za-z]:(?![\\/])/.test(path)) {
    return "a drive-relative path (C:name) depends on the drive's current folder; write C:\\name";
  }
  if (/^[\\/]/.test(path)) return "a path without a drive letter depends on the current drive; write C:\\…";
  if (!DRIVE_ABSOLUTE.test(path)) return "a relative path depends on the current folder; write C:\\…";
  return undefined;
}

function hasControlChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

/** Why one name of a path cannot be judged, or undefined. */
function segmentProblem(segment: string, glob: boolean): string | undefined {
  if (segment.includes(":")) {
    return `"${segment}": a colon after the drive names an alternate data stream (file.txt:stream, ::$DATA)`;
  }
  if (INVALID_CHARS.test(segment) || hasControlChar(segment))
    return `"${segment}" holds a character Windows does not allow in a name`;
  if (!glob && WILDCARDS.test(segment)) return `"${segment}": * and ? are wildcards, not names`;
  if (/[. ]$/.test(segment)) {
    return `"${segment}" ends in a dot or a space, which Windows strips (so it names another file)`;
  }
  if (/~\d/.test(segment)) return `"${segment}" looks like an 8.3 short name, an alias of a longer one`;
  const base = foldAscii(segment.split(".")[0]!.replace(/ +$/, ""));
  if (RESERVED.test(base)) return `"${segment}" is a reserved device name (CON, NUL, COM1, LPT1, …)`;
  return undefined;
}

/**
 * `c:/Users/./Public\..\Public\\x` → `C:\Users\Public\x`: drive letter upper case, `\` between names,
 * `.` and empty names dropped, `..` removes the name before it (and stays at `C:\` above the root), no
 * trailing `\` but at the root. `glob` lets `*` and `?` through as names' wildcards.
 */
export function normaliseWindowsPath(path: string, glob = false): WindowsPathResult {
  const prefix = prefixProblem(path);
  if (prefix !== undefined) return { ok: false, why: prefix };
  const names: string[] = [];
  for (const segment of path.slice(3).split(/[\\/]/)) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      names.pop();
      continue;
    }
    const problem = segmentProblem(segment, glob);
    if (problem !== undefined) return { ok: false, why: problem };
    names.push(segment);
  }
  return { ok: true, path: `${path[0]!.toUpperCase()}:\\${names.join("\\")}` };
}

/**
 * A Windows path glob, as compileGlob for POSIX: `*` and `?` within a name, a `**` name across any number
 * of names (one or more at the end), matched against normalised paths with ASCII letters folded.
 */
export function compileWindowsGlob(pattern: string): RegExp {
  const normalised = normaliseWindowsPath(pattern, true);
  if (!normalised.ok) throw new TypeError(`the Windows path glob "${pattern}" is refused: ${normalised.why}`);
  const [drive, ...names] = foldAscii(normalised.path)
    .split("\\")
    .filter((name) => name !== "");
  const parts = names.map((name, index) => {
    if (name === "**") return index === names.length - 1 ? "(?:\\\\[^\\\\]+)+" : "(?:\\\\[^\\\\]+)*";
    return `\\\\${nameSource(name)}`;
  });
  return new RegExp(`^${escapeRegExp(drive!)}${parts.length === 0 ? "\\\\" : parts.join("")}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+^${}()|[\]\\*?]/g, "\\$&");
}

function nameSource(name: string): string {
  let source = "";
  for (let i = 0; i < name.length; i++) {
    const char = name[i]!;
    if (char === "*" && name[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (char === "*") source += "[^\\\\]*";
    else if (char === "?") source += "[^\\\\]";
    else source += escapeRegExp(char);
  }
  return source;
}

/** A normalised path against Windows globs; globs written POSIX-style never match. */
export function matchesAnyWindowsGlob(path: string, patterns: readonly string[]): boolean {
  const folded = foldAscii(path);
  return patterns.some(
    (pattern) => looksLikeWindowsPath(pattern) && compileWindowsGlob(pattern).test(folded),
  );
}

/** Whole-name prefixes: `C:\Logs` allows `C:\logs` and `C:\Logs\x`, never `C:\Logs2`. */
export function withinAnyWindowsPrefix(path: string, prefixes: readonly string[]): boolean {
  const folded = foldAscii(path);
  return prefixes.some((prefix) => {
    if (!looksLikeWindowsPath(prefix)) return false;
    const base = normaliseWindowsPath(prefix);
    if (!base.ok) return false;
    const root = foldAscii(base.path);
    if (root.endsWith("\\")) return folded.startsWith(root);
    return folded === root || folded.startsWith(`${root}\\`);
  });
}
