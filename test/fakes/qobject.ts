// Just enough of QEMU's QObject model to reproduce qemu-ga's output byte for byte: integers and doubles
// are distinct (1.0 prints as "1", 0.1 as "0.10000000000000001"), and a QDict prints its keys in hash
// bucket order, which is why the real agent sends {"return": …, "id": …} but {"id": …, "error": …}.

import { isValidCodepoint } from "./mod-utf8.js";

/** A JSON integer (QNUM_I64 or QNUM_U64): bigint so that int64/uint64 survive exactly. */
export class QInt {
  constructor(readonly value: bigint) {}
}

/** A JSON number that is not an int64/uint64 (QNUM_DOUBLE). */
export class QFloat {
  constructor(readonly value: number) {}
}

export type QValue = null | boolean | string | QInt | QFloat | QValue[] | QDict;

export class QDict {
  // Map keeps insertion order, which decides the order of keys that share a hash bucket.
  readonly map = new Map<string, QValue>();

  static of(entries: Record<string, QValue>): QDict {
    const d = new QDict();
    for (const [k, v] of Object.entries(entries)) d.map.set(k, v);
    return d;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;

export function isInt64(v: QValue | undefined): v is QInt {
  return v instanceof QInt && v.value >= INT64_MIN && v.value <= INT64_MAX;
}

/** qobject/qdict.c tdb_hash() modulo QDICT_BUCKET_MAX (512). */
function qdictBucket(key: string): number {
  const bytes = Buffer.from(key, "utf8");
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + (((bytes[i] ?? 0) << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % 512;
}

/** Entries in qdict_first()/qdict_next() order: buckets ascending, newest first within a bucket. */
export function qdictEntries(d: QDict): [string, QValue][] {
  return [...d.map.entries()]
    .map((entry, index) => ({ entry, index, bucket: qdictBucket(entry[0]) }))
    .sort((a, b) => a.bucket - b.bucket || b.index - a.index)
    .map((x) => x.entry);
}

const hex4 = (n: number) => `\\u${n.toString(16).toUpperCase().padStart(4, "0")}`;

/** qobject/qjson.c quoted_str(): everything outside printable ASCII as uppercase \uXXXX. */
export function quoteString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (!isValidCodepoint(cp)) out += hex4(0xfffd);
    else if (cp > 0xffff)
      out += hex4(0xd800 + ((cp - 0x10000) >> 10)) + hex4(0xdc00 + ((cp - 0x10000) & 0x3ff));
    else if (cp < 0x20 || cp >= 0x7f) out += hex4(cp);
    else out += ch;
  }
  return `${out}"`;
}

/** printf("%.17g") as glibc does it, which is how QEMU prints a double (inf stays "inf", not JSON). */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const strip = (s: string) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
  const [mantissa = "", expText = "0"] = x.toExponential(16).split("e");
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    return `${strip(mantissa)}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return strip(x.toFixed(16 - exp));
}

/** qobject_to_json() without pretty-printing: ", " and ": " separators. */
export function toJson(v: QValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return quoteString(v);
  if (v instanceof QInt) return v.value.toString();
  if (v instanceof QFloat) return formatDouble(v.value);
  if (Array.isArray(v)) return `[${v.map(toJson).join(", ")}]`;
  return `{${qdictEntries(v)
    .map(([k, x]) => `${quoteString(k)}: ${toJson(x)}`)
    .join(", ")}}`;
}

/**
 * A handler's JS return value as the agent would build it. Integral numbers become integers (so a
 * nanosecond clock prints as digits, not 1.7e+18); QInt/QFloat/QDict pass through for exact control.
 */
export function fromJs(v: unknown): QValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") return new QInt(v);
  if (typeof v === "number") {
    return Number.isInteger(v) && Math.abs(v) < 2 ** 63 ? new QInt(BigInt(v)) : new QFloat(v);
  }
  if (v instanceof QInt || v instanceof QFloat || v instanceof QDict) return v;
  if (Array.isArray(v)) return v.map(fromJs);
  if (typeof v === "object") {
    const d = new QDict();
    for (const [k, x] of Object.entries(v)) if (x !== undefined) d.map.set(k, fromJs(x));
    return d;
  }
  throw new TypeError(`fake agent cannot send a ${typeof v}`);
}

/** A parsed value for tests and handlers: plain JSON-like data, bigint only where a number would lose digits. */
export function toJs(v: QValue): unknown {
  if (v instanceof QInt) {
    const n = Number(v.value);
    return Number.isSafeInteger(n) ? n : v.value;
  }
  if (v instanceof QFloat) return v.value;
  if (Array.isArray(v)) return v.map(toJs);
  if (v instanceof QDict) return Object.fromEntries([...v.map].map(([k, x]) => [k, toJs(x)]));
  return v;
}
