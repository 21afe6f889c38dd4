import { z } from "zod";
import { TopicLevel } from "./topic-level.js";

export const PolicySetName = z.enum(["read", "power", "time", "freeze", "exec", "files", "users", "all"]);
export type PolicySetName = z.infer<typeof PolicySetName>;

/** Named sets and single command or verb names, e.g. `[read, power, guest-get-fsinfo]`. */
export const PolicyList = z
  .array(z.string().min(1))
  .describe("named sets (read, power, time, freeze, exec, files, users, all) and command or verb names");

/**
 * Limits below the command, for commands the policy allows, verbs and raw commands alike: which programs
 * `exec` and `guest-exec` may start (path globs, `*` within a path segment, `**` across segments), which
 * environment variables they may set (names or globs; loader and interpreter variables never), and which
 * paths the file verbs and `guest-file-open` may touch (prefixes, after `..` and duplicate slashes are
 * normalised). Unset: no limit beyond the policy.
 */
const Restriction = z.strictObject({
  exec: z
    .array(z.string().startsWith("/", { error: "must be an absolute path glob" }))
    .optional()
    .describe("programs exec may start: absolute path globs; never a shell, interpreter or script"),
  env: z
    .array(
      z
        .string()
        .regex(/^[^=\s]+$/, { error: "must be a variable name or a glob over names (no '=' or spaces)" }),
    )
    .optional()
    .describe(
      "environment variables a restricted exec may set (names or globs); unset: none. LD_*, BASH_ENV, PATH, PYTHON* and the like never",
    ),
  files: z
    .array(z.string().startsWith("/", { error: "must be an absolute path prefix" }))
    .optional()
    .describe("paths the file verbs and guest-file-open may touch: absolute prefixes"),
});
export type Restriction = z.infer<typeof Restriction>;

export const Restrictions = z.strictObject({
  default: Restriction.default({}),
  groups: z.record(TopicLevel, Restriction).default({}),
  vms: z.record(TopicLevel, Restriction).default({}),
});
export type Restrictions = z.infer<typeof Restrictions>;

export const Policy = z.strictObject({
  default: PolicyList.default(["read"]),
  groups: z.record(TopicLevel, PolicyList).default({}),
  vms: z.record(TopicLevel, PolicyList).default({}),
});
