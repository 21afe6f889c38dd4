import { z } from "zod";

/*
 * Building blocks for the catalogue's schemas.
 *
 * Arguments come from MQTT users, so their messages name the member at fault in words ("handle must be an
 * integer, got a string"); zod's defaults only say "Invalid input" and leave the path to the caller.
 * Results come from the agent and are forwarded as sent, so they keep zod's defaults and are lenient where
 * the agent's int64/uint64 cannot be represented exactly in JavaScript anyway.
 */

/** Render a zod path the way a user would write it: `vcpus[0].online`. */
export function describePath(path: readonly PropertyKey[] | undefined): string {
  if (path === undefined || path.length === 0) return "arguments";
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function describeValue(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "an array";
  switch (typeof input) {
    case "string":
      return "a string";
    case "number":
      return Number.isFinite(input) ? String(input) : "a non-finite number";
    case "boolean":
      return "a boolean";
    case "object":
      return "an object";
    default:
      return typeof input;
  }
}

const expectedWords: Readonly<Record<string, string>> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  array: "an array",
  object: "an object",
};

/**
 * Error map for argument schemas. Returning undefined hands the issue back to zod's default, which only
 * happens for issue kinds the catalogue does not produce.
 */
export const argIssue: z.core.$ZodErrorMap = (iss) => {
  const field = describePath(iss.path);
  switch (iss.code) {
    case "invalid_type": {
      if (iss.path === undefined || iss.path.length === 0) return "arguments must be a JSON object";
      if (iss.input === undefined) return `${field} is required`;
      const expected = expectedWords[iss.expected] ?? iss.expected;
      return `${field} must be ${expected}, got ${describeValue(iss.input)}`;
    }
    case "too_big":
      if (iss.origin === "array") return `${field} must have at most ${iss.maximum} items`;
      if (iss.origin === "string") return `${field} must be at most ${iss.maximum} characters long`;
      return `${field} must be at most ${iss.maximum}, got ${describeValue(iss.input)}`;
    case "too_small":
      if (iss.origin === "array") return `${field} must have at least ${iss.minimum} items`;
      if (iss.origin === "string") return `${field} must be at least ${iss.minimum} characters long`;
      return `${field} must be at least ${iss.minimum}, got ${describeValue(iss.input)}`;
    case "invalid_value":
      return `${field} must be one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys": {
      const keys = iss.keys.map((k) => `"${k}"`).join(", ");
      const noun = iss.keys.length === 1 ? "member" : "members";
      return iss.path === undefined || iss.path.length === 0
        ? `unknown argument ${noun} ${keys}`
        : `${field} has unknown ${noun} ${keys}`;
    }
    default:
      return undefined;
  }
};

const withMessages = { error: argIssue } as const;

/** Arguments object: unknown members are refused, as qemu-ga refuses them ("Parameter 'x' is unexpected"). */
export function argsObject<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape, withMessages);
}

// zod reports a string given for an integer as "expected number"; users asked for an integer.
const intMessages = {
  error: (iss) =>
    iss.code === "invalid_type" && iss.expected === "number" && iss.input !== undefined && iss.path?.length
      ? `${describePath(iss.path)} must be an integer, got ${describeValue(iss.input)}`
      : argIssue(iss),
} as const satisfies { error: z.core.$ZodErrorMap };

/** An int64 argument kept within JavaScript's safe integers, so the value sent is the value meant. */
export function argInt() {
  return z.number(intMessages).int(withMessages);
}

/** A non-negative int64 argument, optionally capped by the agent's own limit. */
export function argCount(max: number = Number.MAX_SAFE_INTEGER) {
  return argInt().min(0, withMessages).max(max, withMessages);
}

const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63;

/**
 * An int64 argument that must reach past 2^53 (nanoseconds since the epoch are ~1.8e18). Such a number is
 * only a double here, but JSON.stringify writes it as plain digits below 1e21, which the agent reads as int64.
 */
export function argWideInt() {
  return z
    .number(intMessages)
    .refine(Number.isInteger, { error: (iss) => `${describePath(iss.path)} must be an integer` })
    .min(INT64_MIN, withMessages)
    .lt(INT64_LIMIT, { error: (iss) => `${describePath(iss.path)} must be below 2^63` });
}

export function argString() {
  return z.string(withMessages);
}

/** A string that qemu-ga would reject when empty (paths, user names). */
export function argNonEmptyString() {
  return z.string(withMessages).min(1, { error: (iss) => `${describePath(iss.path)} must not be empty` });
}

export function argBool() {
  return z.boolean(withMessages);
}

export function argStringList() {
  return z.array(argString(), withMessages);
}

export function argEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, withMessages);
}

/**
 * One of several forms (QAPI "alternate"). zod reports a failed union as a bare "Invalid input", so the
 * caller states the accepted forms in words.
 */
export function argAlternate<const T extends readonly [z.ZodType, z.ZodType, ...z.ZodType[]]>(
  options: T,
  accepted: string,
) {
  return z.union(options, {
    error: (iss) =>
      iss.input === undefined
        ? `${describePath(iss.path)} is required`
        : `${describePath(iss.path)} must be ${accepted}, got ${describeValue(iss.input)}`,
  });
}

/**
 * Canonical padded base64 (what Buffer#toString("base64") writes), empty allowed. qemu-ga tolerates more
 * (newlines, sloppy padding) but refusing it here catches callers that forgot to encode at all.
 * Checked by decoding, without a copy of the text: Node's decoder skips characters outside the alphabet
 * and stops at an early "=" (so the length comes out short), reads "-" and "_" as base64url (looked for
 * apart), and only the last group can hold bits a canonical encoder leaves zero. A 1 MiB part takes
 * 0.17 ms, against 10 ms for a character-class regexp (bench/PROFILE.md).
 */
export function isBase64(text: string): boolean {
  if (text.length % 4 !== 0) return false;
  const bytes = Buffer.from(text, "base64");
  if (bytes.length !== base64DecodedLength(text)) return false;
  if (text.includes("-") || text.includes("_")) return false;
  if (text.length === 0) return true;
  const tail = bytes.length % 3 || 3;
  return bytes.subarray(bytes.length - tail).toString("base64") === text.slice(-4);
}

export function argBase64() {
  return z.string(withMessages).refine(isBase64, {
    error: (iss) => `${describePath(iss.path)} must be base64 (standard alphabet, padded)`,
  });
}

/** Number of bytes a canonical base64 string decodes to. */
export function base64DecodedLength(text: string): number {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

// ---- results -------------------------------------------------------------------------------------------

/** Handles, pids, ids, sizes and indexes: int64 in the agent, always small enough to be exact here. */
export const resultInt = z.number().int();

/** Non-negative counterpart of resultInt (uint64 sizes). */
export const resultSize = z.number().int().nonnegative();

/**
 * Nanosecond timestamps (guest-get-time, driver dates) exceed 2^53: JSON.parse rounds them to the nearest
 * double, which is still an integer-valued number. Refusing them would refuse every real answer.
 */
export const resultWideInt = z.number().refine(Number.isInteger, { error: "expected an integer" });

/**
 * uint64 counters and bit sets may pass 2^53: statistics on a busy or long-lived guest, NVMe halves, and
 * route flags (seen at 18446744071564165121 from a real 10.0 agent). They arrive rounded, never negative.
 */
export const resultCounter = z
  .number()
  .nonnegative()
  .refine(Number.isInteger, { error: "expected a non-negative integer" });

export const resultBase64 = z.string().refine(isBase64, { error: "expected base64 text" });

/**
 * The fallback arm of a QAPI union in a result: any variant other than the known ones passes with just its
 * discriminator, so a variant a newer agent adds is forwarded rather than refused.
 */
export function otherVariant(discriminator: string, known: readonly string[]) {
  return z.looseObject({
    [discriminator]: z.string().refine((value) => !known.includes(value), {
      error: "a known variant that does not match its shape",
    }),
  });
}
