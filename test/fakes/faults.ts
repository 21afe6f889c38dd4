// The bytes a faulty agent sends instead of its normal reply. The fault kinds are what a client
// must survive from a real agent or the channel: a slow or stuck agent, a corrupted or huge line,
// a dropped link, and a reply meant for an earlier request.
import { fromJs, QDict, type QValue, toJs, toJson } from "./qobject.js";

/** One fault, applied to one request (see FakeAgent.fault). */
export type Fault =
  /** answer after ms; later requests wait behind it, as in the single-threaded agent */
  | { kind: "delay"; ms: number }
  /** answer nothing until release(); requests keep queueing (and are recorded) meanwhile */
  | { kind: "hang" }
  /** send these bytes instead of the reply, e.g. "not json\n" or bytes without a newline */
  | { kind: "garbage"; bytes: Buffer | string }
  /** a valid reply line (id kept) of exactly this many bytes including "\n" */
  | { kind: "oversize"; bytes: number }
  /** close the served client's connection instead of replying */
  | { kind: "disconnect" }
  /** the reply with another id (default: number + 1e9, string + "-stale", else "stale") */
  | { kind: "wrong-id"; id?: unknown }
  /** send exactly this line plus "\n" as the reply */
  | { kind: "raw"; line: string }
  /** the reply `{"return": <json>}` with the request's id kept: a return value written by hand, hostile or not */
  | { kind: "return"; json: string }
  /** these bytes first (lines nobody asked for, garbage), then the normal reply */
  | { kind: "preface"; bytes: Buffer | string }
  /**
   * these pieces instead of the reply, each in a write of its own (a reply split anywhere, garbage
   * between lines): given as they are, with "$ID" in a string piece standing for the request's id, or
   * built from that id (its JSON text, "null" without one)
   */
  | { kind: "pieces"; pieces: readonly (Buffer | string)[] | ((id: string) => readonly Buffer[]) };

/** What goes on the wire for a dispatched request under a fault (null: nothing). */
export function replyBytes(
  response: QDict | null,
  delimited: boolean,
  fault: Fault | undefined,
  id: QValue | undefined,
) {
  switch (fault?.kind) {
    case "garbage":
      return Buffer.from(fault.bytes);
    case "raw":
      return Buffer.from(`${fault.line}\n`);
    case "oversize":
      return oversizeLine(fault.bytes, id);
    case "return":
      return Buffer.from(`{"return": ${fault.json}${id === undefined ? "" : `, "id": ${toJson(id)}`}}\n`);
    case "preface": {
      const reply = response && line(response, delimited);
      return Buffer.concat([Buffer.from(fault.bytes), ...(reply ? [reply] : [])]);
    }
    case "pieces":
      return Buffer.concat(replyPieces(fault.pieces, id));
    case "wrong-id": {
      const r = response ?? QDict.of({ return: new QDict() });
      r.map.set("id", staleId(fault.id, id));
      return line(r, delimited);
    }
    default:
      return response && line(response, delimited);
  }
}

/** The pieces of a `pieces` fault, each one write, with the request's id filled in. */
export function replyPieces(
  pieces: readonly (Buffer | string)[] | ((id: string) => readonly Buffer[]),
  id: QValue | undefined,
): Buffer[] {
  const idJson = id === undefined ? "null" : toJson(id);
  if (typeof pieces === "function") return [...pieces(idJson)];
  return pieces.map((piece) =>
    typeof piece === "string" ? Buffer.from(piece.replaceAll("$ID", idJson)) : Buffer.from(piece),
  );
}

export function line(response: QDict, delimited = false): Buffer {
  const text = Buffer.from(`${toJson(response)}\n`);
  // guest-sync-delimited puts the 0xFF sentinel in front of its reply
  return delimited ? Buffer.concat([Buffer.from([0xff]), text]) : text;
}

/** A valid reply of exactly `bytes` bytes with "\n" (or the shortest possible), keeping the id. */
function oversizeLine(bytes: number, id: QValue | undefined): Buffer {
  const build = (pad: number) => {
    const r = QDict.of({ return: QDict.of({ pad: "x".repeat(pad) }) });
    if (id !== undefined) r.map.set("id", id);
    return line(r);
  };
  return build(Math.max(0, bytes - build(0).length));
}

/** Unless told, an id that cannot match a live request: numbers moved far away, strings suffixed. */
function staleId(given: unknown, id: QValue | undefined): QValue {
  if (given !== undefined) return fromJs(given);
  const js = id === undefined ? undefined : toJs(id);
  if (typeof js === "number") return fromJs(js + 1_000_000_000);
  if (typeof js === "string") return `${js}-stale`;
  return "stale";
}
