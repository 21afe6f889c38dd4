import { WorkerError } from "../errors.js";
import { argNonEmptyString, describePath } from "../qga/catalogue/scalars.js";
import type { KnownFlavour } from "./path-flavour.js";
import { matchesAnyWindowsGlob, normaliseWindowsPath, withinAnyWindowsPrefix } from "./windows-paths.js";

/*
 * The restrictions below the policy (restrictions.*.exec and .files) are decided on guest paths before
 * anything reaches the guest. Matching is lexical, so the path is normalised first and the normalised
 * path is what the guest is sent: what was checked is what runs. Symlinks inside the guest are not
 * resolved here; an allowed folder must not hold links out of it.
 */

/** A guest path argument: qemu-ga passes it on as a C string, where a NUL would silently cut it short. */
export function argPath() {
  return argNonEmptyString().refine((path) => !path.includes("\u0000"), {
    error: (iss) => `${describePath(iss.path)} must not contain a NUL character`,
  });
}

/**
 * `/tmp/../etc//shadow/` → `/etc/shadow`: `.` and empty segments dropped, `..` removes the segment before it
 * (and stays at `/` above the root, as the kernel does). Undefined for a relative path.
 */
export function normalisePath(path: string): string | undefined {
  if (!path.startsWith("/")) return undefined;
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join("/")}`;
}

/**
 * An absolute path glob: `*` and `?` stay within a segment, a `**` segment spans any number of whole
 * segments (one or more at the end: `/opt/**` is everything below /opt), a `**` inside a segment spans
 * anything. Everything else is literal. The pattern is normalised like the paths it is matched against.
 */
export function compileGlob(pattern: string): RegExp {
  const normalised = normalisePath(pattern);
  if (normalised === undefined) throw new TypeError(`the path glob "${pattern}" must be absolute`);
  if (normalised === "/") return /^\/$/;
  const segments = normalised.slice(1).split("/");
  const parts = segments.map((segment, index) => {
    if (segment === "**") return index === segments.length - 1 ? "(?:/[^/]+)+" : "(?:/[^/]+)*";
    return `/${segmentSource(segment)}`;
  });
  return new RegExp(`^${parts.join("")}$`);
}

function segmentSource(segment: string): string {
  let source = "";
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char === "*" && segment[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return source;
}

// Compiled on every exec: a handful of patterns from the configuration, microseconds against an exec's
// round trips to the guest, and no cache shared across the process.
// Entries written Windows-style (C:\…) are for Windows guests: on a POSIX one they match nothing.
export function matchesAnyGlob(path: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => pattern.startsWith("/") && compileGlob(pattern).test(path));
}

/** Whole-segment prefixes: `/var/log` allows `/var/log` and `/var/log/x`, never `/var/logs`. */
export function withinAnyPrefix(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => {
    const base = normalisePath(prefix);
    if (base === undefined) return false;
    return base === "/" || path === base || path.startsWith(`${base}/`);
  });
}

/** A path as the guest's flavour reads it: the normalised form, or why it cannot be judged. */
function judge(path: string, flavour: KnownFlavour): { path: string } | { why: string } {
  if (flavour === "windows") {
    const result = normaliseWindowsPath(path);
    return result.ok ? { path: result.path } : { why: result.why };
  }
  // A backslash is a separator to Windows: were the guest one after all (a pathFlavour set wrongly),
  // /allowed/..\..\x would climb out. In a POSIX name it is rare enough to refuse rather than guess.
  if (flavour === "posix" && path.includes("\\")) {
    return { why: "a backslash in a path is refused (it separates names on Windows; see pathFlavour)" };
  }
  const normalised = flavour === "posix" ? normalisePath(path) : undefined;
  return normalised === undefined ? { why: "" } : { path: normalised };
}

/** `forbidden`: why a path cannot be judged on `vm`; `posixLimit` is what a POSIX guest's must be. */
function unjudgeable(
  flavour: KnownFlavour,
  vm: string,
  what: string,
  why: string,
  posixLimit: string,
): WorkerError {
  if (flavour === "unknown") {
    return new WorkerError(
      "forbidden",
      `${what} on ${vm} is restricted, and whether its paths are Windows or POSIX ones is not known yet ` +
        "(the guest agent has not told its OS through guest-get-osinfo); set pathFlavour: windows or posix " +
        `in restrictions (default, the VM's group or restrictions.vms.${vm}) to judge them without asking`,
    );
  }
  if (why !== "") return new WorkerError("forbidden", `${what} on ${vm} refused: ${why}`);
  return new WorkerError("forbidden", `${what} on ${vm} is limited to ${posixLimit}`);
}

/** Without a restriction the path goes as given, POSIX paths normalised (Windows ones untouched). */
function unrestricted(path: string, flavour: KnownFlavour): string {
  return flavour === "windows" ? path : (normalisePath(path) ?? path);
}

/**
 * The program `exec` may start, normalised, or `forbidden`. Without `restrictions.*.exec` the policy alone
 * decides, and the path goes to the guest as given (a bare name is then looked up on the guest's PATH).
 * `flavour`: how the guest reads paths; "unknown" refuses everything a restriction would have to judge.
 */
export function authorizeProgram(
  path: string,
  globs: readonly string[] | undefined,
  vm: string,
  flavour: KnownFlavour = "posix",
): string {
  if (globs === undefined) return unrestricted(path, flavour);
  const judged = judge(path, flavour);
  if (!("path" in judged))
    throw unjudgeable(flavour, vm, "exec", judged.why, "programs given by an absolute path");
  const matches =
    flavour === "windows" ? matchesAnyWindowsGlob(judged.path, globs) : matchesAnyGlob(judged.path, globs);
  if (!matches) {
    throw new WorkerError(
      "forbidden",
      `${judged.path} is not among the programs exec may start on ${vm} (restrictions: exec)`,
    );
  }
  return judged.path;
}

/** The file `read-file`/`write-file` may touch, normalised, or `forbidden`; as authorizeProgram otherwise. */
export function authorizeFile(
  path: string,
  prefixes: readonly string[] | undefined,
  vm: string,
  flavour: KnownFlavour = "posix",
): string {
  if (prefixes === undefined) return unrestricted(path, flavour);
  const judged = judge(path, flavour);
  if (!("path" in judged)) throw unjudgeable(flavour, vm, "file access", judged.why, "absolute paths");
  const within =
    flavour === "windows"
      ? withinAnyWindowsPrefix(judged.path, prefixes)
      : withinAnyPrefix(judged.path, prefixes);
  if (!within) {
    throw new WorkerError(
      "forbidden",
      `${judged.path} is outside the paths the file verbs may touch on ${vm} (restrictions: files)`,
    );
  }
  return judged.path;
}
