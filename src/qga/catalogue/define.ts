import type { z } from "zod";

/**
 * One guest-agent command as QEMU's qga/qapi-schema.json defines it, plus the facts the bridge needs for
 * policy (read-only, allowed while frozen) that the schema itself does not carry.
 */
export interface CommandSpec<A extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** The wire name, e.g. "guest-get-osinfo". */
  readonly name: string;
  /** Strict object with QEMU's own member names; `z.strictObject({})` for commands without arguments. */
  readonly args: A;
  /** What "return" holds. Objects are loose: newer agents add members and the result is forwarded as sent. */
  readonly result: R;
  /** QEMU version the command appeared in, as the schema's "Since:" line writes it. */
  readonly since: string;
  /** False for commands the agent answers only on failure (`success-response: false`). */
  readonly replies: boolean;
  /** On qemu-ga's freeze allow-list (qga/main.c): the only commands served while filesystems are frozen. */
  readonly allowedWhileFrozen: boolean;
  /** A pure query: never changes the guest. File operations and guest-exec-status are not (they move or free state). */
  readonly readOnly: boolean;
  /** One line, for docs and `unknown_command` hints. */
  readonly description: string;
  /**
   * Its arguments may be secrets (passwords, keys): an argument error names the member and what it must
   * be, never the value given.
   */
  readonly secretArgs?: boolean;
}

// An identity function: it exists so each area file gets its specs' exact schema types inferred.
export function defineCommand<A extends z.ZodType, R extends z.ZodType>(
  spec: CommandSpec<A, R>,
): CommandSpec<A, R> {
  return spec;
}

function versionParts(version: string): number[] {
  if (!/^\d+(\.\d+)*$/.test(version)) {
    throw new Error(`not a QEMU version: "${version}"`);
  }
  return version.split(".").map(Number);
}

/**
 * Orders QEMU versions numerically ("2.10" after "2.9", "1.1" equal to "1.1.0"), since the schema writes
 * "Since:" with two or three parts and a string comparison would get them wrong.
 */
export function compareQemuVersions(a: string, b: string): number {
  const pa = versionParts(a);
  const pb = versionParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return 0;
}
