// The README's shell examples as data, and the comparison of what a command printed with what the README
// shows below it. Used by readme-commands.test.ts, which runs them against `npm run demo`.

/** The sections whose `sh` blocks are run, by the start of their `## ` heading. */
export const RUN_SECTIONS = ["Quick start", "CLI", "The CLI", "Examples", "The fleet", "Dashboard"] as const;

/** One command of a block, with what the README shows it prints. */
export interface Step {
  /** The line as a user types it (without the `$ ` prompt). */
  readonly command: string;
  /** 1-based line of the README. */
  readonly line: number;
  /** The README's lines for its standard output (and, in blocks without prompts, anything the shell prints). */
  readonly stdout: readonly string[];
  /** The README's lines marked `# (on stderr)`. */
  readonly stderr: readonly string[];
  /** Ends with `&`: it keeps printing while the following commands run. */
  readonly background: boolean;
}

export interface Block {
  readonly section: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** From `<!-- docs-test: skip (reason) -->` right before the fence. */
  readonly skip: string | undefined;
  /**
   * `$ ` prompts: what follows each command until the next prompt or blank line is its own output, in
   * order. Without prompts: `# ` lines after a command are what the shell shows by then, from it or from
   * a background command, in any order.
   */
  readonly prompts: boolean;
  readonly steps: readonly Step[];
}

const MARKER = /^<!--\s*docs-test:\s*skip\s*\((.+)\)\s*-->\s*$/;
const STDERR = /\s{2,}# \(on stderr\)$/;

/** Every `sh` block of the sections in RUN_SECTIONS, with its commands and their shown output. */
export function readmeBlocks(readme: string): Block[] {
  const lines = readme.split("\n");
  const blocks: Block[] = [];
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? "";
    if (text.startsWith("## ")) section = text.slice(3).trim();
    if (!/^```sh\s*$/.test(text)) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    if (!RUN_SECTIONS.some((name) => section.startsWith(name))) continue;
    let before = start - 1;
    while (before >= 0 && (lines[before] ?? "").trim() === "") before--;
    const skip = MARKER.exec(lines[before] ?? "")?.[1];
    blocks.push(parseBlock(section, start + 1, body, skip));
  }
  return blocks;
}

function parseBlock(section: string, line: number, body: string[], skip: string | undefined): Block {
  const prompts = body.some((text) => text.startsWith("$ "));
  const steps: Array<{
    command: string;
    line: number;
    stdout: string[];
    stderr: string[];
    background: boolean;
  }> = [];
  let current: (typeof steps)[number] | undefined;
  body.forEach((text, index) => {
    const at = line + 1 + index;
    if (prompts) {
      if (text.startsWith("$ ")) {
        current = newStep(text.slice(2), at);
        steps.push(current);
      } else if (text.trim() === "") current = undefined;
      else if (current) {
        if (STDERR.test(text)) current.stderr.push(text.replace(STDERR, ""));
        else current.stdout.push(text);
      }
      return;
    }
    if (text.trim() === "") return;
    if (text.startsWith("#")) {
      // Output shown under a command; a comment before the first command is prose.
      if (current) current.stdout.push(text.replace(/^# ?/, ""));
      return;
    }
    current = newStep(text, at);
    steps.push(current);
  });
  return { section, line, skip, prompts, steps };
}

function newStep(command: string, line: number) {
  // A trailing comment is the shell's to ignore; `&` before it sends the command to the background.
  const code = command.replace(/\s+#[^'"]*$/, "").trimEnd();
  return { command, line, stdout: [], stderr: [], background: /[^&]&$/.test(code) };
}

// ---------------------------------------------------------------------------------------------------------
// Comparison: the shape of what was printed, not the values that change from run to run.

/** Stands for the README's `, ...` in an object: more keys than shown may follow. */
const MORE = "\u2026more";

/** Values that change from run to run, as (pattern, placeholder); applied to both sides. */
const VOLATILE: Array<[RegExp, string]> = [
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b/g, "<time>"],
  [/\bqga-mqtt-call-[0-9a-z]+-[0-9a-z]+\b/g, "<call id>"],
  [/\b\d+\.\d+\b/g, "<number>"],
];
/**
 * Keys whose string values are the host's own (the demo's agents run on it): host name, mount points and
 * file system types. Their type is compared, not the value.
 */
const HOST_KEYS = new Set(["hostname", "host-name", "mountpoint", "type"]);

function normalizeText(text: string): string {
  let out = text.trim().replace(/\s+/g, " ");
  for (const [pattern, placeholder] of VOLATILE) out = out.replace(pattern, placeholder);
  return out;
}

/** The README's JSON, where `, ...}` means "and more keys". */
function parseShownJson(text: string): unknown {
  return JSON.parse(text.replace(/,\s*\.\.\.\s*\}/g, `,"${MORE}":true}`));
}

/** undefined when `actual` has the shape of `shown`; else where it differs. */
export function jsonShapeDiff(shown: unknown, actual: unknown, where = "$", key = ""): string | undefined {
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual)) return `${where}: an array in the README, ${JSON.stringify(actual)} here`;
    if (shown.length === 0) return undefined;
    if (actual.length === 0) return `${where}: empty here, not in the README`;
    // Lists are the host's (filesystems, interfaces): any length, each item shaped as one shown.
    for (const [i, item] of actual.entries()) {
      const problems = shown.map((example) => jsonShapeDiff(example, item, `${where}[${i}]`));
      if (problems.every((p) => p !== undefined)) return problems[0];
    }
    return undefined;
  }
  if (shown !== null && typeof shown === "object") {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) {
      return `${where}: an object in the README, ${JSON.stringify(actual)} here`;
    }
    const shownObject = shown as Record<string, unknown>;
    const actualObject = actual as Record<string, unknown>;
    const open = MORE in shownObject;
    const shownKeys = Object.keys(shownObject).filter((k) => k !== MORE);
    const missing = shownKeys.filter((k) => !(k in actualObject));
    const extra = open ? [] : Object.keys(actualObject).filter((k) => !(k in shownObject));
    if (missing.length > 0 || extra.length > 0) {
      return `${where}: keys ${[...missing.map((k) => `-${k}`), ...extra.map((k) => `+${k}`)].join(" ")}`;
    }
    for (const k of shownKeys) {
      const problem = jsonShapeDiff(shownObject[k], actualObject[k], `${where}.${k}`, k);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof shown === "number") {
    return typeof actual === "number"
      ? undefined
      : `${where}: a number in the README, ${JSON.stringify(actual)} here`;
  }
  if (typeof shown === "string" && typeof actual === "string") {
    if (HOST_KEYS.has(key)) return undefined;
    return normalizeText(shown) === normalizeText(actual)
      ? undefined
      : `${where}: ${JSON.stringify(shown)} in the README, ${JSON.stringify(actual)} here`;
  }
  return shown === actual
    ? undefined
    : `${where}: ${JSON.stringify(shown)} in the README, ${JSON.stringify(actual)} here`;
}

/** A line as `[prefix, json]` when it ends in a JSON object or array (`topic {...}`, `{...}`), else undefined. */
function splitJson(line: string, shown: boolean): [string, unknown] | undefined {
  const at = line.search(/[[{]/);
  if (at < 0) return undefined;
  const prefix = line.slice(0, at).trim();
  if (prefix.includes(" ") || (prefix !== "" && !prefix.includes("/"))) return undefined;
  try {
    const text = line.slice(at).trim();
    return [prefix, shown ? parseShownJson(text) : JSON.parse(text)];
  } catch {
    return undefined;
  }
}

/** Whether the README shows this line as JSON (alone, or after a topic). */
export function isJsonLine(line: string): boolean {
  return splitJson(line, true) !== undefined;
}

/** undefined when the printed line has the shape of the README's; else how it differs. */
export function lineDiff(shown: string, actual: string): string | undefined {
  const shownJson = splitJson(shown, true);
  if (shownJson) {
    const actualJson = splitJson(actual, false);
    if (!actualJson) return `JSON in the README, not here: ${actual}`;
    if (normalizeText(shownJson[0]) !== normalizeText(actualJson[0])) {
      return `${JSON.stringify(shownJson[0])} in the README, ${JSON.stringify(actualJson[0])} here`;
    }
    return jsonShapeDiff(shownJson[1], actualJson[1]);
  }
  return sameText(shown, actual) ? undefined : `${JSON.stringify(shown)} in the README`;
}

/** Equal once normalized; a line the README shows cut (`…`, as the CLI cuts table rows) is a prefix. */
function sameText(shown: string, actual: string): boolean {
  const s = normalizeText(shown);
  const a = normalizeText(actual);
  if (s === a) return true;
  if (!s.endsWith("…")) return false;
  // The cut moves with the widths of the columns before it: compare up to the shorter of the two.
  const head = s.slice(0, -1);
  const tail = a.endsWith("…") ? a.slice(0, -1) : a;
  const common = Math.min(head.length, tail.length) - 3;
  return common > 0 && head.slice(0, common) === tail.slice(0, common);
}

/** Differences between the README's lines and the printed ones: in order, or as any permutation. */
export function linesDiff(shown: readonly string[], actual: readonly string[], ordered: boolean): string[] {
  const printed = actual.filter((line) => line.trim() !== "");
  if (ordered) {
    const problems: string[] = [];
    for (let i = 0; i < Math.max(shown.length, printed.length); i++) {
      const s = shown[i];
      const a = printed[i];
      if (s === undefined) problems.push(`printed, not in the README: ${a}`);
      else if (a === undefined) problems.push(`in the README, not printed: ${s}`);
      else {
        const problem = lineDiff(s, a);
        if (problem) problems.push(`${problem}\n      printed: ${a}`);
      }
    }
    return problems;
  }
  const left = [...printed];
  const problems: string[] = [];
  for (const s of shown) {
    const match = left.findIndex((a) => lineDiff(s, a) === undefined);
    if (match >= 0) left.splice(match, 1);
    else {
      const near = left.map((a) => lineDiff(s, a)).find((p) => p !== undefined);
      problems.push(`in the README, not printed: ${s}${near && left.length > 0 ? `\n      (${near})` : ""}`);
    }
  }
  for (const a of left) problems.push(`printed, not in the README: ${a}`);
  return problems;
}
