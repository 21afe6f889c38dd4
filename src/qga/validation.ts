import type { z } from "zod";
import { describePath } from "./catalogue/scalars.js";

/**
 * One line a person can act on from a zod error, naming each field by its path from `root`:
 * `args.path: expected string, received number; args.foo: unexpected member`.
 */
export function describeIssues(error: z.ZodError, root: string, maxIssues = 5, quoteValues = true): string {
  const parts = error.issues.slice(0, maxIssues).map((issue) => {
    const where = [root, ...issue.path.map(String)].join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${where}.${key}: unexpected member`).join("; ");
    }
    if (!quoteValues) return `${where}: ${withoutValue(issue)}`;
    // Catalogue messages name the field themselves ("handle must be …"); the path already says it.
    const field = describePath(issue.path);
    const message = issue.message.replace(/^Invalid input: /, "");
    return `${where}: ${message.startsWith(`${field} `) ? message.slice(field.length + 1) : message}`;
  });
  const more = error.issues.length - maxIssues;
  return more > 0 ? `${parts.join("; ")} (and ${more} more)` : parts.join("; ");
}

/** What an issue says without the value given: for arguments that may be secrets. */
function withoutValue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `must be ${issue.expected === "int" ? "an integer" : `a ${issue.expected}`} (the value given is not repeated)`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}${issue.origin === "string" ? " characters long" : ""}`;
    case "too_small":
      return `must be at least ${String(issue.minimum)}${issue.origin === "string" ? " characters long" : ""}`;
    default:
      return "is not valid (the value given is not repeated)";
  }
}
