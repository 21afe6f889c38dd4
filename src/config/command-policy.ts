import { z } from "zod";
import { normaliseWindowsPath } from "../commands/windows-paths.js";
import { TopicLevel } from "./topic-level.js";

export const PolicySetName = z.enum(["read", "power", "time", "freeze", "exec", "files", "users", "all"]);
export type PolicySetName = z.infer<typeof PolicySetName>;

/** Named sets and single command or verb names, e.g. `[read, power, guest-get-fsinfo]`. */
export const PolicyList = z
  .array(z.string().min(1))
  .describe("named sets (read, power, time, freeze, exec, files, users, all) and command or verb names");

const WINDOWS_ABSOLUTE = /^[A-Za-z]:[\\/]/;

/** An absolute POSIX path (`/…`) or an absolute Windows one (`C:\…`, `c:/…`) that can be judged. */
function guestPath(kind: "glob" | "prefix") {
  return z.string().superRefine((entry, ctx) => {
    if (entry.startsWith("/")) return;
    if (!WINDOWS_ABSOLUTE.test(entry)) {
      ctx.addIssue({ code: "custom", message: `must be an absolute path ${kind} (/… or C:\\…)` });
      return;
    }
    const judged = normaliseWindowsPath(entry, kind === "glob");
    if (!judged.ok) ctx.addIssue({ code: "custom", message: `is refused as a Windows path: ${judged.why}` });
  });
}

/**
 * Limits below the command, for commands the policy allows, verbs and raw commands alike: which programs
 * `exec` and `guest-exec` may start (path globs, `*` within a path segment, `**` across segments), which
 * environment variables they may set (names or globs; loader and interpreter variables never), and which
 * paths the file verbs and `guest-file-open` may touch (prefixes, after `..` and duplicate slashes are
 * normalised). Unset: no limit beyond the policy. `pathFlavour` says how the guest reads paths (see
 * src/commands/path-flavour.ts); entries in the other flavour's form match nothing.
 */
const Restriction = z
  .strictObject({
    pathFlavour: z
      .enum(["auto", "posix", "windows"])
      .optional()
      .describe(
        "how the guest reads paths: posix, windows (drive letters, case-insensitive), or auto: from the agent's guest-get-osinfo (default)",
      ),
    exec: z
      .array(guestPath("glob"))
      .optional()
      .describe(
        "programs exec may start: absolute path globs (/usr/bin/x, C:\\Tools\\x.exe); never a shell, interpreter or script",
      ),
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
      .array(guestPath("prefix"))
      .optional()
      .describe("paths the file verbs and guest-file-open may touch: absolute prefixes (/var/log, C:\\Logs)"),
  })
  .superRefine((restriction, ctx) => {
    const flavour = restriction.pathFlavour;
    if (flavour !== "posix" && flavour !== "windows") return;
    for (const kind of ["exec", "files"] as const) {
      (restriction[kind] ?? []).forEach((entry, index) => {
        const windows = WINDOWS_ABSOLUTE.test(entry);
        if (windows === (flavour === "windows")) return;
        ctx.addIssue({
          code: "custom",
          path: [kind, index],
          message: `pathFlavour is ${flavour}: write it as ${flavour === "windows" ? "C:\\…" : "/…"}`,
        });
      });
    }
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
