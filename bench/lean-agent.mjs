// The bench's fast fake agents: COUNT qemu-ga stand-ins in one process, as cheap per request as a C agent
// is next to the worker. Plain JavaScript, no loader, nothing from test/: the fakes there port QEMU's JSON
// lexer byte by byte (right for tests, too costly as bench apparatus); this one cuts complete top-level
// values out of the stream with a brace-depth scanner and hands each to JSON.parse.
//   node bench/lean-agent.mjs DIR COUNT PREFIX   listens on DIR/PREFIX<i>.sock (i < COUNT), prints "ready"
//                                                once all listen, exits on SIGTERM
//
// The agent it plays is the real qemu-ga 7.2.22 as recorded in test/unit/fixtures/qga-7.2: its guest-info
// and its answers to every read-only command, printed as qemu-ga prints them (", " and ": " separators,
// "return" before "id", "id" before "error", everything outside printable ASCII as \uXXXX), serialised once
// at start-up. Other commands answer CommandNotFound. Like qemu-ga (and the FakeAgent) each socket serves one client at a time (the
// others connect but are not read until it leaves), and its parser state is not reset between clients.
// A 0xFF drops a partial request and answers the stray-byte error line qemu-ga sends for it.
// Between values only objects and arrays start a value: other bytes there (a bare scalar, which qemu-ga
// would lex and refuse as "QMP input must be a JSON object") get that error once per run of them.
// Simplified against the FakeAgent: envelope and argument checks run in the request's key order (qemu-ga:
// hash order, which only matters for a request with several faults); a malformed but balanced value gets
// one "JSON parse error" line whose text is not qemu-ga's; integers beyond 2^53 lose digits (JSON.parse).
import { readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [dir, countText, prefix = "vm"] = process.argv.slice(2);
const count = Number(countText);
if (!dir || !Number.isInteger(count) || count < 0) {
  process.stderr.write("usage: node bench/lean-agent.mjs DIR COUNT [PREFIX]\n");
  process.exit(2);
}

/** A token over this many bytes is dropped, as qemu-ga's 64 MiB limit drops it. */
const MAX_VALUE_BYTES = 64 * 1024 * 1024;
const PRINTABLE = /^[\x20-\x7e]*$/;
const hex4 = (n) => `\\u${n.toString(16).toUpperCase().padStart(4, "0")}`;

/** qobject/qjson.c quoted_str(): printable ASCII as is (with " and \ escaped), the rest as \uXXXX. */
function quote(s) {
  if (PRINTABLE.test(s)) return JSON.stringify(s); // escapes exactly " and \ in this range
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
    else if (cp >= 0xd800 && cp <= 0xdfff)
      out += hex4(0xfffd); // a lone surrogate
    else if (cp > 0xffff)
      out += hex4(0xd800 + ((cp - 0x10000) >> 10)) + hex4(0xdc00 + ((cp - 0x10000) & 0x3ff));
    else if (cp < 0x20 || cp >= 0x7f) out += hex4(cp);
    else out += ch;
  }
  return `${out}"`;
}

/** qobject_to_json() for parsed JSON: ", " and ": " separators; object keys in the order given. */
function qjson(v) {
  if (v === null) return "null";
  if (typeof v === "string") return quote(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(qjson).join(", ")}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${quote(k)}: ${qjson(x)}`)
    .join(", ")}}`;
}

// Replies recorded from the real qemu-ga 7.2.22 (test/unit/fixtures/qga-7.2, one {request, response} per
// file): its guest-info (every read-only command it serves on Linux enabled, those that change a machine
// disabled) and its answer to each of those commands, so that a status poll asks what it asks a real
// agent and parses what a real agent answers.
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../test/unit/fixtures/qga-7.2");
/** Answered by the code below, not from a recording: the syncs echo their id, the time moves. */
const NOT_CANNED = new Set(["guest-sync", "guest-sync-delimited", "guest-get-time"]);
const RECORDED = new Map(
  readdirSync(FIXTURES)
    .filter((file) => file.endsWith(".json"))
    .map((file) => JSON.parse(readFileSync(path.join(FIXTURES, file), "utf8")))
    .filter(({ request }) => !NOT_CANNED.has(request.execute))
    .map(({ request, response }) => [request.execute, qjson(response.return)]),
);
/** What qemu-ga answers to a 0xFF outside a string: the lexer's stray-byte error (no id: none was read). */
const STRAY_FF = `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`;

/** Commands with a canned answer and no arguments; each maps to its "return" text. */
const CANNED = new Map([
  ...[...RECORDED].map(([name, text]) => [name, () => text]),
  ["guest-get-time", () => `${Date.now()}000000`], // ns
]);
const SHUTDOWN_MODES = new Set(["powerdown", "halt", "reboot"]);

const ok = (value, id) =>
  id === undefined ? `{"return": ${value}}\n` : `{"return": ${value}, "id": ${id}}\n`;
function fail(errorClass, desc, id) {
  const error = `"error": {"class": "${errorClass}", "desc": ${quote(desc)}}`;
  return id === undefined ? `{${error}}\n` : `{"id": ${id}, ${error}}\n`;
}

/** The reply text to one parsed top-level value ("" for none); latin1-safe: all ASCII, 0xFF as "\xff". */
function answer(request) {
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    return fail("GenericError", "QMP input must be a JSON object");
  }
  const rawId = request.id;
  const id = rawId === undefined ? undefined : typeof rawId === "string" ? quote(rawId) : qjson(rawId);
  for (const key in request) {
    if (key === "execute") {
      if (typeof request.execute !== "string")
        return fail("GenericError", "QMP input member 'execute' must be a string", id);
    } else if (key === "arguments") {
      const a = request.arguments;
      if (a === null || typeof a !== "object" || Array.isArray(a))
        return fail("GenericError", "QMP input member 'arguments' must be an object", id);
    } else if (key !== "id") return fail("GenericError", `QMP input member '${key}' is unexpected`, id);
  }
  const command = request.execute;
  if (command === undefined) return fail("GenericError", "QMP input lacks member 'execute'", id);
  const args = request.arguments;
  const canned = CANNED.get(command);
  if (canned) {
    for (const key in args) return fail("GenericError", `Parameter '${key}' is unexpected`, id);
    return ok(canned(), id);
  }
  if (command === "guest-sync" || command === "guest-sync-delimited") {
    const syncId = args?.id;
    if (syncId === undefined) return fail("GenericError", "Parameter 'id' is missing", id);
    if (!Number.isInteger(syncId))
      return fail("GenericError", "Invalid parameter type for 'id', expected: integer", id);
    for (const key in args) {
      if (key !== "id") return fail("GenericError", `Parameter '${key}' is unexpected`, id);
    }
    const reply = ok(String(syncId), id);
    return command === "guest-sync" ? reply : `\xff${reply}`;
  }
  if (command === "guest-shutdown") {
    const mode = args?.mode;
    if (mode !== undefined && typeof mode !== "string")
      return fail("GenericError", "Invalid parameter type for 'mode', expected: string", id);
    for (const key in args) {
      if (key !== "mode") return fail("GenericError", `Parameter '${key}' is unexpected`, id);
    }
    // sic: the real message lacks the closing parenthesis
    if (mode !== undefined && !SHUTDOWN_MODES.has(mode))
      return fail("GenericError", "mode is invalid (valid values are: halt|powerdown|reboot", id);
    return ""; // accepted: no reply, as qemu-ga
  }
  return fail("CommandNotFound", `The command ${command} has not been found`, id);
}

function answerText(bytes) {
  let request;
  try {
    request = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    return fail("GenericError", `JSON parse error, ${error instanceof Error ? error.message : error}`);
  }
  return answer(request);
}

/**
 * One socket: a qemu-ga chardev. Serves one client at a time; the scanner's state is the agent's, kept
 * across clients (a half request left by one client swallows the next client's bytes until a 0xFF).
 */
class LeanAgent {
  constructor(socketPath) {
    this.path = socketPath;
    /** Nesting depth of the value being cut out (0: between values). */
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    /** Inside a run of bytes between values that are no value's start (already answered once). */
    this.junk = false;
    /** Bytes of the current value that came in earlier chunks. */
    this.carry = [];
    this.carryBytes = 0;
    this.active = null;
    this.waiting = [];
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.onConnection(socket));
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.path, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  close() {
    for (const socket of [this.active, ...this.waiting]) socket?.destroy();
    this.server.close();
    rmSync(this.path, { force: true });
  }

  onConnection(socket) {
    socket.on("error", () => {}); // a client vanishing mid-write is expected
    socket.on("close", () => {
      if (socket === this.active) {
        this.active = null;
        this.serveNext();
      } else {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      }
    });
    this.waiting.push(socket);
    if (!this.active) this.serveNext();
  }

  serveNext() {
    const next = this.waiting.shift();
    if (!next) return;
    this.active = next;
    next.on("data", (chunk) => this.feed(chunk, next));
    next.resume();
  }

  /** Cuts complete top-level values out of the stream; answers them in order, in one write per chunk. */
  feed(chunk, socket) {
    let out = "";
    let start = this.depth > 0 ? 0 : -1; // where the current value starts in this chunk
    let { depth, inString, escaped, junk } = this;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === 0xff) {
        // qemu-ga's lexer rejects the byte whatever it interrupts: the partial value is dropped.
        depth = 0;
        inString = false;
        escaped = false;
        junk = false;
        start = -1;
        this.dropCarry();
        out += STRAY_FF;
      } else if (depth > 0) {
        if (inString) {
          if (escaped) escaped = false;
          else if (b === 0x5c) escaped = true;
          else if (b === 0x22) inString = false;
        } else if (b === 0x22) inString = true;
        else if (b === 0x7b || b === 0x5b) depth++;
        else if ((b === 0x7d || b === 0x5d) && --depth === 0) {
          out += answerText(this.take(chunk, start, i + 1));
          start = -1;
        }
      } else if (b === 0x7b || b === 0x5b) {
        depth = 1;
        start = i;
        junk = false;
      } else if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) junk = false;
      else if (!junk) {
        // Anything else between values (a bare scalar, a stray bracket): one error line per run of it.
        junk = true;
        out += fail("GenericError", "QMP input must be a JSON object");
      }
    }
    if (start >= 0) {
      this.carry.push(chunk.subarray(start));
      this.carryBytes += chunk.length - start;
      if (this.carryBytes > MAX_VALUE_BYTES) {
        depth = 0;
        inString = false;
        escaped = false;
        this.dropCarry();
        out += fail("GenericError", "JSON token size limit exceeded");
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.junk = junk;
    if (out.length > 0 && socket.writable) socket.write(out, "latin1");
  }

  /** The value's bytes: [start, end) of this chunk, after whatever earlier chunks held of it. */
  take(chunk, start, end) {
    const tail = chunk.subarray(start, end);
    if (this.carry.length === 0) return tail;
    const whole = Buffer.concat([...this.carry, tail]);
    this.dropCarry();
    return whole;
  }

  dropCarry() {
    this.carry = [];
    this.carryBytes = 0;
  }
}

const agents = Array.from({ length: count }, (_, i) => new LeanAgent(path.join(dir, `${prefix}${i}.sock`)));
try {
  await Promise.all(agents.map((agent) => agent.listen()));
} catch (error) {
  process.stderr.write(`lean-agent: ${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
}
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  for (const agent of agents) agent.close();
  process.exit(0);
});
