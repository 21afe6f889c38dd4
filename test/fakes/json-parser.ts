// json-parser.c of QEMU 7.2: recursive descent over one message's tokens, with its error texts.
import { isValidCodepoint, modUtf8Codepoint } from "./mod-utf8.js";
import { QDict, QFloat, QInt, type QValue, UINT64_MAX } from "./qobject.js";

export type TokenType = "{" | "}" | "[" | "]" | "," | ":" | "int" | "float" | "keyword" | "string";

const SIMPLE_ESCAPES: Record<string, number> = {
  '"': 0x22,
  "'": 0x27,
  "\\": 0x5c,
  "/": 0x2f,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
};

export interface Token {
  type: TokenType;
  text: Buffer;
}

/** The first error wins, as parse_error() keeps the first. */
export class TokenParser {
  private pos = 0;
  error: string | null = null;
  constructor(private readonly tokens: readonly Token[]) {}

  private fail(message: string): undefined {
    // parse_error() formats into a 1024-byte buffer before prefixing
    this.error ??= `JSON parse error, ${message.slice(0, 1023)}`;
    return undefined;
  }

  value(): QValue | undefined {
    const t = this.tokens[this.pos];
    if (!t) return this.fail("premature EOI");
    if (t.type === "{") return this.object();
    if (t.type === "[") return this.array();
    this.pos++;
    if (t.type === "string") return this.string(t.text);
    if (t.type === "int") return integer(t.text.toString("latin1"));
    if (t.type === "float") return new QFloat(Number(t.text.toString("latin1")));
    if (t.type === "keyword") {
      const word = t.text.toString("latin1");
      if (word === "true" || word === "false") return word === "true";
      return word === "null" ? null : this.fail(`invalid keyword '${word}'`);
    }
    this.pos--;
    return this.fail("expecting value");
  }

  private object(): QDict | undefined {
    const dict = new QDict();
    this.pos++;
    if (this.tokens[this.pos]?.type === "}") {
      this.pos++;
      return dict;
    }
    for (;;) {
      if (!this.tokens[this.pos]) return this.fail("premature EOI");
      const key = this.value();
      if (typeof key !== "string") return this.fail("key is not a string in object");
      const colon = this.tokens[this.pos++];
      if (!colon) return this.fail("premature EOI");
      if (colon.type !== ":") return this.fail("missing : in object pair");
      const v = this.value();
      if (v === undefined) return this.fail("Missing value in dict");
      if (dict.map.has(key)) return this.fail("duplicate key");
      dict.map.set(key, v);
      const sep = this.tokens[this.pos++];
      if (!sep) return this.fail("premature EOI");
      if (sep.type === "}") return dict;
      if (sep.type !== ",") return this.fail("expected separator in dict");
    }
  }

  private array(): QValue[] | undefined {
    const list: QValue[] = [];
    this.pos++;
    if (!this.tokens[this.pos]) return this.fail("premature EOI");
    if (this.tokens[this.pos]?.type === "]") {
      this.pos++;
      return list;
    }
    for (;;) {
      const v = this.value();
      if (v === undefined) return this.fail("expecting value");
      list.push(v);
      const sep = this.tokens[this.pos++];
      if (!sep) return this.fail("premature EOI");
      if (sep.type === "]") return list;
      if (sep.type !== ",") return this.fail("expected separator in list");
    }
  }

  /** parse_string(): escapes, surrogate pairs, modified UTF-8 (\xC0\x80 is U+0000). */
  private string(s: Buffer): string | undefined {
    const quote = s[0];
    // Built in slices: ASCII runs are copied whole, and spreading a multi-megabyte array of code
    // points into fromCodePoint would overflow the stack.
    const parts: string[] = [];
    let cps: number[] = [];
    const flush = () => {
      if (cps.length) parts.push(String.fromCodePoint(...cps));
      cps = [];
    };
    const add = (cp: number) => {
      cps.push(cp);
      if (cps.length === 8192) flush();
    };
    let p = 1;
    const hex4 = (at: number) => {
      const t = s.subarray(at, at + 4).toString("latin1");
      return /^[0-9a-fA-F]{4}$/.test(t) ? Number.parseInt(t, 16) : -1;
    };
    while (p < s.length && s[p] !== quote) {
      const b = s[p] ?? 0;
      if (b < 0x80 && b !== 0x5c) {
        let end = p;
        while (end < s.length && (s[end] ?? 0x80) < 0x80 && s[end] !== 0x5c && s[end] !== quote) end++;
        flush();
        parts.push(s.toString("latin1", p, end));
        p = end;
        continue;
      }
      if (b !== 0x5c) {
        const { cp, next } = modUtf8Codepoint(s, p);
        if (cp < 0) return this.fail("invalid UTF-8 sequence in string");
        add(cp);
        p = next;
        continue;
      }
      const begin = p;
      const esc = String.fromCharCode(s[p + 1] ?? 0);
      p += 2;
      const simple = SIMPLE_ESCAPES[esc];
      if (simple !== undefined) {
        add(simple);
        continue;
      }
      if (esc !== "u") return this.fail("invalid escape sequence in string");
      let cp = hex4(p);
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && s[p] === 0x5c && s[p + 1] === 0x75) {
        const trailing = hex4(p + 2);
        cp =
          trailing >= 0xdc00 && trailing <= 0xdfff ? 0x10000 + ((cp & 0x3ff) << 10) + (trailing & 0x3ff) : -1;
        if (cp >= 0) p += 6;
      }
      if (!isValidCodepoint(cp)) {
        const text = s.subarray(begin, Math.min(p, s.length)).toString("latin1");
        return this.fail(`${text} is not a valid Unicode character`);
      }
      add(cp);
    }
    flush();
    return parts.join("");
  }
}

/** JSON_INTEGER: int64 if it fits, else uint64, else a double (strtod). */
function integer(text: string): QValue {
  const v = BigInt(text);
  if (v >= -(2n ** 63n) && v <= UINT64_MAX) return new QInt(v);
  return new QFloat(Number(text));
}
