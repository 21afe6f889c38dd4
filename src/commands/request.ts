import { isUtf8 } from "node:buffer";
import { z } from "zod";
import { WorkerError } from "../errors.js";
import { describeIssues } from "../qga/validation.js";
import { hasBom } from "./request-id.js";

/** The request envelope of the contract: empty, or `{id?, args?, timeout?}`. */
export const Request = z.strictObject({
  id: z.string().min(1).max(128, { error: "must be at most 128 characters" }).optional(),
  args: z.record(z.string(), z.unknown()).optional(),
  timeout: z.number().positive({ error: "must be a positive number of seconds" }).optional(),
});
export type Request = z.infer<typeof Request>;

export interface RequestLimits {
  readonly maxPayloadBytes: number;
  readonly maxDepth: number;
  readonly maxTimeoutSeconds: number;
}

export interface PayloadLimits extends RequestLimits {
  readonly fileBytes: number;
  readonly transferPartBytes: number;
}

/** What a payload may hold beyond its file bytes' base64: the envelope, the path, the other arguments. */
const ENVELOPE_BYTES = 64 * 1024;

/**
 * The largest payload a command takes, and the limit that sets it. `write-file` and `put-part` carry file
 * bytes: their limit follows limits.fileBytes resp. limits.transferPartBytes (as base64, plus the
 * envelope), never below limits.maxPayloadBytes; every other command has limits.maxPayloadBytes.
 */
export function payloadLimit(command: string, limits: PayloadLimits): PayloadLimit {
  const carried =
    command === "write-file"
      ? { bytes: limits.fileBytes, setBy: "limits.fileBytes" }
      : command === "put-part"
        ? { bytes: limits.transferPartBytes, setBy: "limits.transferPartBytes" }
        : undefined;
  if (carried === undefined) return { bytes: limits.maxPayloadBytes, setBy: "limits.maxPayloadBytes" };
  const hint = command === "write-file" ? LARGER_FILES : undefined;
  const bytes = Math.ceil(carried.bytes / 3) * 4 + ENVELOPE_BYTES;
  if (bytes <= limits.maxPayloadBytes)
    return { bytes: limits.maxPayloadBytes, setBy: "limits.maxPayloadBytes", hint };
  return { bytes, setBy: `${carried.setBy} as base64, plus ${ENVELOPE_BYTES / 1024} KiB`, hint };
}

export interface PayloadLimit {
  readonly bytes: number;
  readonly setBy: string;
  /** Where to go instead, for a payload over the limit. */
  readonly hint?: string | undefined;
}

/** Said wherever a file is too large for one request. */
export const LARGER_FILES =
  "larger files go in parts: `qga-mqtt cp`, or the transfer verbs put-begin, put-part, put-end (get-begin, get-part, get-end to read)";

/**
 * Parses a payload into a request, or fails as `invalid_payload` with the reason. The size is checked
 * before parsing and the depth before validation, so a hostile payload costs no more than its bytes.
 */
export function parseRequest(
  payload: Buffer,
  limits: RequestLimits,
  maxPayload: PayloadLimit = {
    bytes: limits.maxPayloadBytes,
    setBy: "limits.maxPayloadBytes",
  },
): Request {
  if (payload.length > maxPayload.bytes) {
    throw new WorkerError(
      "invalid_payload",
      `the payload is ${payload.length} bytes, over the limit of ${maxPayload.bytes} (${maxPayload.setBy})` +
        (maxPayload.hint ? `; ${maxPayload.hint}` : ""),
    );
  }
  if (payload.length === 0) return {};
  if (!isUtf8(payload)) {
    throw new WorkerError(
      "invalid_payload",
      "the payload must be empty or a JSON object, but it is not valid UTF-8",
    );
  }
  // A leading byte-order mark is dropped (as TextDecoder does): JSON.parse would refuse it.
  const text = payload.toString("utf8", hasBom(payload) ? 3 : 0);
  // An empty (or blank) payload is an empty request; JSON.parse would throw on it.
  if (text.trim() === "") return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new WorkerError(
      "invalid_payload",
      `the payload must be empty or a JSON object, but it is not JSON (${(error as Error).message})`,
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new WorkerError("invalid_payload", "the payload must be empty or a JSON object");
  }
  const shape = inspect(json, limits.maxDepth + 1);
  if (shape.depth > limits.maxDepth) {
    throw new WorkerError(
      "invalid_payload",
      `the payload is nested deeper than ${limits.maxDepth} levels (limits.maxDepth)`,
    );
  }
  if (shape.protoMember) {
    // JSON.parse makes it an own member; copying the object (as zod does) would make it the prototype.
    throw new WorkerError(
      "invalid_payload",
      "the payload has a member named __proto__, which no command or verb takes (unexpected member)",
    );
  }
  const request = Request.safeParse(json);
  if (!request.success) throw new WorkerError("invalid_payload", describeIssues(request.error, "payload"));
  if (request.data.timeout !== undefined && request.data.timeout > limits.maxTimeoutSeconds) {
    throw new WorkerError(
      "invalid_payload",
      `payload.timeout: must be at most ${limits.maxTimeoutSeconds} seconds (limits.maxTimeoutSeconds)`,
    );
  }
  return request.data;
}

/**
 * Nesting depth of a JSON value (counting stops at `cap`: no need to walk a hostile payload further), and
 * whether an object in it has an own `__proto__` member.
 */
function inspect(value: unknown, cap: number): { depth: number; protoMember: boolean } {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest >= cap) return { depth: deepest, protoMember: false };
    if (Object.hasOwn(node, "__proto__")) return { depth: deepest, protoMember: true };
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return { depth: deepest, protoMember: false };
}
