/**
 * The `id` of a payload that is refused (`invalid_payload`), so that the refusal can still be matched by
 * an MQTT 3.1.1 client: the top-level `"id"` member found by a scan of the raw bytes, without parsing
 * the whole payload (it may be over the size limit, not JSON, or nested too deep). The scan is linear
 * and stops after `maxScanBytes`; strings are skipped by their escapes, so an `"id"` inside `args` or a
 * string is never taken. Only a string id as the contract allows (1 to 128 characters) counts.
 */
export function findRequestId(payload: Buffer, maxScanBytes: number): string | undefined {
  const end = Math.min(payload.length, maxScanBytes);
  let i = skipSpace(payload, hasBom(payload) ? 3 : 0, end);
  if (payload[i] !== OPEN_BRACE) return undefined;
  let depth = 0;
  while (i < end) {
    const byte = payload[i]!;
    if (byte === QUOTE) {
      const close = stringEnd(payload, i, end);
      if (close < 0) return undefined;
      if (depth === 1 && close - i === 3 && payload[i + 1] === 0x69 && payload[i + 2] === 0x64) {
        const colon = skipSpace(payload, close + 1, end);
        if (payload[colon] === COLON) return idValue(payload, skipSpace(payload, colon + 1, end), end);
      }
      i = close + 1;
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--;
    i++;
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
// 128 characters, each at most a 6-byte \u escape, and the quotes.
const MAX_ID_BYTES = 128 * 6 + 2;

function idValue(payload: Buffer, start: number, end: number): string | undefined {
  if (payload[start] !== QUOTE) return undefined;
  const close = stringEnd(payload, start, end);
  if (close < 0 || close + 1 - start > MAX_ID_BYTES) return undefined;
  try {
    const id: unknown = JSON.parse(payload.toString("utf8", start, close + 1));
    return typeof id === "string" && id.length >= 1 && id.length <= 128 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The index of the quote that closes the string opening at `open`, or -1 before `end`. */
function stringEnd(payload: Buffer, open: number, end: number): number {
  for (let i = open + 1; i < end; i++) {
    const byte = payload[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i;
  }
  return -1;
}

function skipSpace(payload: Buffer, from: number, end: number): number {
  let i = from;
  while (
    i < end &&
    (payload[i] === 0x20 || payload[i] === 0x09 || payload[i] === 0x0a || payload[i] === 0x0d)
  )
    i++;
  return i;
}

/** A leading UTF-8 byte-order mark. */
export function hasBom(payload: Buffer): boolean {
  return payload.length >= 3 && payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf;
}
