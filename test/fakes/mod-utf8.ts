// QEMU's "modified UTF-8" (util/unicode.c): strict for parsing strings, and the lenient reading
// quoted_str() applies when it prints bytes, which turns a stray 0xFF into "\uFFFD".

/** util/unicode.c is_valid_codepoint(): no surrogates, no noncharacters. */
export function isValidCodepoint(cp: number): boolean {
  if (cp < 0 || cp > 0x10ffff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return !(cp >= 0xd800 && cp <= 0xdfff);
}

/** util/unicode.c mod_utf8_codepoint(): -1 for anything invalid, with QEMU's idea of how far to skip. */
export function modUtf8Codepoint(s: Uint8Array, i: number): { cp: number; next: number } {
  const first = s[i] ?? 0;
  if (first < 0x80) return { cp: first, next: i + 1 };
  if (first >= 0xfe || (first & 0x40) === 0) return { cp: -1, next: i + 1 };
  let len = 0;
  let mask = 0x80;
  for (; first & mask; mask >>= 1) len++;
  let cp = first & (mask - 1);
  let p = i + 1;
  for (let k = 1; k < len; k++) {
    const b = s[p] ?? 0; // past the end reads the C string's NUL
    if ((b & 0xc0) !== 0x80) return { cp: -1, next: p };
    p++;
    cp = cp * 64 + (b & 0x3f);
  }
  const minCp = [0x80, 0x800, 0x10000, 0x200000, 0x4000000][len - 2] ?? 0;
  if (!isValidCodepoint(cp) || (cp < minCp && !(cp === 0 && len === 2))) cp = -1;
  return { cp, next: p };
}

/** Bytes as quoted_str() will render them: a C string (stops at NUL), invalid sequences as U+FFFD. */
export function lenientText(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length && bytes[i] !== 0; ) {
    const { cp, next } = modUtf8Codepoint(bytes, i);
    out += cp < 0 ? "\uFFFD" : String.fromCodePoint(cp);
    i = next;
  }
  return out;
}
