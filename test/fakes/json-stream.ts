// A byte-wise port of QEMU 7.2's JSON lexer and streamer (qobject/json-lexer.c, json-streamer.c;
// the parser is json-parser.ts). Porting rather than using JSON.parse is what makes the fake
// faithful where clients get hurt: a 0xFF or a stray byte produces the same error lines, a partial
// request swallows what follows until the same resync points, and every error text matches.
import { type Token, TokenParser, type TokenType } from "./json-parser.js";
import { lenientText } from "./mod-utf8.js";
import type { QValue } from "./qobject.js";

export type ParseResult = { ok: true; value: QValue } | { ok: false; desc: string };

// Lexer states and token types, numbered like QEMU's table; LOOKAHEAD = the byte is not consumed.
const ERROR = 0;
const RECOVERY = 1;
const DQ_ESCAPE = 2;
const DQ_STRING = 3;
const SQ_ESCAPE = 4;
const SQ_STRING = 5;
const ZERO = 6;
const EXP_DIGITS = 7;
const EXP_SIGN = 8;
const EXP_E = 9;
const MANTISSA = 10;
const MANTISSA_DIGITS = 11;
const DIGITS = 12;
const SIGN = 13;
const KEYWORD = 14;
const START = 15;
const LOOKAHEAD = 0x100;
const TOKENS: readonly TokenType[] = ["{", "}", "[", "]", ",", ":", "int", "float", "keyword", "string"];
const tok = (t: TokenType) => 100 + TOKENS.indexOf(t);

const MAX_TOKEN_SIZE = 64 * 1024 * 1024;
const MAX_TOKEN_COUNT = 2 * 1024 * 1024;
const MAX_NESTING = 1024;

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** Byte of each structural character -> its token. */
const STRUCTURAL = new Map(["{", "}", "[", "]", ",", ":"].map((c) => [c.charCodeAt(0), tok(c as TokenType)]));

/** One row of json_lexer[][]: the next state or token for byte b. */
function transition(state: number, b: number): number {
  switch (state) {
    case RECOVERY: // skip to a structural char, a control char other than tab, or 0xFE/0xFF
      if ((b < 0x20 && b !== 0x09) || b >= 0xfe || STRUCTURAL.has(b)) {
        return START | LOOKAHEAD;
      }
      return RECOVERY;
    case DQ_STRING:
    case SQ_STRING:
      if (b < 0x20 || b > 0xfd) return ERROR;
      if (b === 0x5c) return state === DQ_STRING ? DQ_ESCAPE : SQ_ESCAPE;
      if (b === (state === DQ_STRING ? 0x22 : 0x27)) return tok("string");
      return state;
    case DQ_ESCAPE:
    case SQ_ESCAPE:
      if (b < 0x20 || b > 0xfd) return ERROR;
      return state === DQ_ESCAPE ? DQ_STRING : SQ_STRING;
    case ZERO:
      if (isDigit(b)) return ERROR;
      return b === 0x2e ? MANTISSA : tok("int") | LOOKAHEAD;
    case EXP_DIGITS:
      return isDigit(b) ? EXP_DIGITS : tok("float") | LOOKAHEAD;
    case EXP_SIGN:
      return isDigit(b) ? EXP_DIGITS : ERROR;
    case EXP_E:
      if (b === 0x2b || b === 0x2d) return EXP_SIGN;
      return isDigit(b) ? EXP_DIGITS : ERROR;
    case MANTISSA:
      return isDigit(b) ? MANTISSA_DIGITS : ERROR;
    case MANTISSA_DIGITS:
      if (isDigit(b)) return MANTISSA_DIGITS;
      return b === 0x65 || b === 0x45 ? EXP_E : tok("float") | LOOKAHEAD;
    case DIGITS:
      if (isDigit(b)) return DIGITS;
      if (b === 0x65 || b === 0x45) return EXP_E;
      return b === 0x2e ? MANTISSA : tok("int") | LOOKAHEAD;
    case SIGN:
      if (b === 0x30) return ZERO;
      return isDigit(b) ? DIGITS : ERROR;
    case KEYWORD:
      return b >= 0x61 && b <= 0x7a ? KEYWORD : tok("keyword") | LOOKAHEAD;
    default: {
      if (b === 0x22) return DQ_STRING;
      if (b === 0x27) return SQ_STRING;
      if (b === 0x30) return ZERO;
      if (isDigit(b)) return DIGITS;
      if (b === 0x2d) return SIGN;
      const structural = STRUCTURAL.get(b);
      if (structural !== undefined) return structural;
      if (b >= 0x61 && b <= 0x7a) return KEYWORD;
      if (b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a) return START;
      return ERROR; // includes '%': interpolation is off for the agent
    }
  }
}

/** End of the run of bytes from i that stay in the string state: 0x20..0xFD except backslash and quote. */
function plainRun(data: Uint8Array, i: number, quote: number, max: number): number {
  const stop = Math.min(data.length, i + Math.max(0, max));
  let j = i;
  while (j < stop) {
    const b = data[j] ?? 0;
    if (b < 0x20 || b > 0xfd || b === 0x5c || b === quote) break;
    j++;
  }
  return j;
}

/** json-streamer.c + lexer: feed bytes, get one callback per top-level value or error. */
export class JsonStream {
  private state = START;
  // The current token's bytes; a growable Buffer because a token may legitimately reach 64 MiB.
  private token = Buffer.alloc(256);
  private tokenLen = 0;
  private tokens: Token[] = [];
  private tokenSize = 0;
  private braces = 0;
  private brackets = 0;

  constructor(private readonly emit: (result: ParseResult) => void) {}

  feed(data: Uint8Array): void {
    for (let i = 0; i < data.length; ) {
      // Fast path, same result: plain string content goes to the token in one copy, not byte by byte.
      if (this.state === DQ_STRING || this.state === SQ_STRING) {
        const end = plainRun(
          data,
          i,
          this.state === DQ_STRING ? 0x22 : 0x27,
          MAX_TOKEN_SIZE + 1 - this.tokenLen,
        );
        if (end > i) {
          this.append(data.subarray(i, end));
          this.limitToken();
          i = end;
          continue;
        }
      }
      this.feedByte(data[i++] ?? 0);
    }
  }

  private feedByte(b: number): void {
    for (let consumed = false; !consumed; ) {
      const next = transition(this.state, b);
      consumed = (next & LOOKAHEAD) === 0;
      const to = next & ~LOOKAHEAD;
      if (consumed) this.appendByte(b);
      if (to >= 100) {
        this.process(TOKENS[to - 100] ?? "keyword", this.takeToken());
        this.state = START;
      } else if (to === ERROR) {
        this.flush({ ok: false, desc: `JSON parse error, stray '${lenientText(this.takeToken())}'` });
        this.state = RECOVERY;
      } else {
        if (to === START || to === RECOVERY) this.tokenLen = 0;
        this.state = to;
      }
    }
    this.limitToken();
  }

  private limitToken(): void {
    if (this.tokenLen > MAX_TOKEN_SIZE) {
      // QEMU hands the oversized partial token on, the streamer rejects it, and lexing restarts
      // mid-token: the rest of that token is read as fresh JSON (how a huge request desyncs).
      this.flush({ ok: false, desc: "JSON token size limit exceeded" });
      this.tokenLen = 0;
      this.state = START;
    }
  }

  private append(bytes: ArrayLike<number>): void {
    if (this.tokenLen + bytes.length > this.token.length) {
      const bigger = Buffer.alloc(Math.max(this.token.length * 2, this.tokenLen + bytes.length));
      this.token.copy(bigger, 0, 0, this.tokenLen);
      this.token = bigger;
    }
    this.token.set(bytes, this.tokenLen);
    this.tokenLen += bytes.length;
  }

  private appendByte(b: number): void {
    if (this.tokenLen === this.token.length) this.append([b]);
    else this.token[this.tokenLen++] = b;
  }

  private takeToken(): Buffer {
    const text = Buffer.from(this.token.subarray(0, this.tokenLen));
    this.tokenLen = 0;
    return text;
  }

  private process(type: TokenType, text: Buffer): void {
    if (type === "{") this.braces++;
    if (type === "}") this.braces--;
    if (type === "[") this.brackets++;
    if (type === "]") this.brackets--;
    // QEMU's limits on one message, checked before the token is queued
    const limit =
      this.tokenSize + text.length + 1 > MAX_TOKEN_SIZE
        ? "JSON token size limit exceeded"
        : this.tokens.length + 1 > MAX_TOKEN_COUNT
          ? "JSON token count limit exceeded"
          : this.braces + this.brackets > MAX_NESTING
            ? "JSON nesting depth limit exceeded"
            : null;
    if (limit) {
      this.flush({ ok: false, desc: limit });
      return;
    }
    this.tokens.push({ type, text } satisfies Token);
    this.tokenSize += text.length;
    if ((this.braces > 0 || this.brackets > 0) && this.braces >= 0 && this.brackets >= 0) return;
    const parser = new TokenParser(this.tokens);
    const value = parser.value();
    this.flush(
      parser.error !== null || value === undefined
        ? { ok: false, desc: parser.error ?? "" }
        : { ok: true, value },
    );
  }

  /** out_emit: reset the message state whatever happened, then report. */
  private flush(result: ParseResult): void {
    this.braces = 0;
    this.brackets = 0;
    this.tokens = [];
    this.tokenSize = 0;
    this.emit(result);
  }
}
