import type { z } from "zod";
import { nearMatch } from "../text/near-match.js";
import { configJsonSchema, keysAt } from "./json-schema.js";

/** Where a setting's value came from, for the words of a problem: the file's line, or a variable. */
export interface Origins {
  /** The line of the file that holds the key at `path` (its deepest part in the file), if any. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
  /** The environment variable that set the value at `path`, if one did. */
  variableOf(path: readonly PropertyKey[]): string | undefined;
}

interface Problem {
  readonly line: number | undefined;
  readonly text: string;
}

/**
 * The schema's issues in words a person can act on, one line each, in the file's order:
 * `✖ mqtt.protocolVersion (line 3): must be 5 (MQTT 5) or 4 (MQTT 3.1.1)`,
 * `✖ unknown key mqtt.basetopic (line 4): did you mean baseTopic?`.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], origins: Origins): string[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) problems.push(unknownKey([...issue.path, key], origins));
      continue;
    }
    const { line, text } = originOf(issue.path, origins);
    problems.push({ line, text: `${pathText(issue.path)}${text}: ${messageOf(issue)}` });
  }
  // Stable: problems without a line (from the environment, or defaults) keep their order, after the others.
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => (a.problem.line ?? Infinity) - (b.problem.line ?? Infinity) || a.index - b.index)
    .map(({ problem }) => `✖ ${problem.text}`);
}

/** zod's message, but a missing key said as such (zod says "expected string, received undefined"). */
function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && /received undefined$/.test(issue.message)) {
    return `is required (${issue.expected})`;
  }
  return issue.message;
}

function unknownKey(path: readonly PropertyKey[], origins: Origins): Problem {
  const key = String(path.at(-1));
  const known = keysAt(configJsonSchema(), path.slice(0, -1)) ?? [];
  const near = nearMatch(key, known);
  const hint = near
    ? `did you mean ${near}?`
    : known.length > 0
      ? `not one of ${known.join(", ")}`
      : "no keys are allowed here";
  const { line, text } = originOf(path, origins);
  return { line, text: `unknown key ${pathText(path)}${text}: ${hint}` };
}

/** ` (line 4)`, ` (from QGA_MQTT_MQTT_URL)`, or nothing for a value the defaults gave. */
function originOf(
  path: readonly PropertyKey[],
  origins: Origins,
): { line: number | undefined; text: string } {
  const variable = origins.variableOf(path);
  if (variable) return { line: undefined, text: ` (from ${variable})` };
  const line = origins.lineOf(path);
  return { line, text: line === undefined ? "" : ` (line ${line})` };
}

/** `vms[0].groups`, `policy.groups.web`: the path as the README and the schema name settings. */
export function pathText(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "the configuration";
  return path
    .map((segment, i) =>
      typeof segment === "number" ? `[${segment}]` : i === 0 ? String(segment) : `.${String(segment)}`,
    )
    .join("");
}
