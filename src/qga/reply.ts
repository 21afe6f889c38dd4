import { z } from "zod";
import { DEFAULT_REPLY_LIMITS, type ReplyLimits, replyShapeProblem } from "./reply-limits.js";

/** One reply line of the agent: `{"return": X}` or `{"error": {class, desc}}`, with the request's id if it had one. */
const ReturnReply = z.strictObject({ return: z.unknown(), id: z.unknown().optional() });
const ErrorReply = z.strictObject({
  error: z.looseObject({ class: z.string(), desc: z.string() }),
  id: z.unknown().optional(),
});

export type ParsedLine =
  | { readonly kind: "return"; readonly value: unknown; readonly id: unknown }
  | { readonly kind: "error"; readonly errorClass: string; readonly desc: string; readonly id: unknown }
  | { readonly kind: "garbage"; readonly preview: string }
  /** Valid JSON past a bound of ReplyLimits: only its top-level `id` is read, to tell whose it was. */
  | { readonly kind: "refused"; readonly reason: string; readonly id: unknown };

export function parseReplyLine(bytes: Buffer, limits: ReplyLimits = DEFAULT_REPLY_LIMITS): ParsedLine {
  return parseReplyText(bytes.toString("utf8"), limits);
}

/** The same for a reply that arrives as text (libvirt hands over the agent's reply as a string). */
export function parseReplyText(text: string, limits: ReplyLimits = DEFAULT_REPLY_LIMITS): ParsedLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "garbage", preview: preview(text) };
  }
  // Before anything walks it (zod, and later JSON.stringify): those recurse, this check does not.
  const problem = replyShapeProblem(json, limits);
  if (problem) return { kind: "refused", reason: problem, id: topLevelId(json) };
  // The member present picks the schema: a union would try the return shape on every error line first.
  if (typeof json === "object" && json !== null && "return" in json) {
    const reply = ReturnReply.safeParse(json);
    if (reply.success) return { kind: "return", value: reply.data.return, id: reply.data.id };
  } else {
    const reply = ErrorReply.safeParse(json);
    if (reply.success) {
      const { class: errorClass, desc } = reply.data.error;
      return { kind: "error", errorClass, desc, id: reply.data.id };
    }
  }
  return { kind: "garbage", preview: preview(text) };
}

/**
 * The id of a reply from the last bytes of its line. Used for a reply too large to keep: the agent writes
 * `"id"` after `"return"`, so the tail of an over-long line still says whose it was.
 */
export function idFromLineTail(tail: Buffer): string | undefined {
  const match = /"id":\s*"((?:[^"\\]|\\.){1,128})"\s*}\s*$/.exec(tail.toString("latin1"));
  return match?.[1];
}

/** The `id` member of a reply object, read without looking inside anything else. */
function topLevelId(json: unknown): unknown {
  if (typeof json !== "object" || json === null || Array.isArray(json) || !Object.hasOwn(json, "id"))
    return undefined;
  return (json as Record<string, unknown>).id;
}

function preview(text: string): string {
  // Cut first: the line can be megabytes long.
  const flat = text.slice(0, 81).replace(/[^\x20-\x7e]/g, "?");
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}
