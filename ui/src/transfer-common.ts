import { z } from "zod";
import { callVm } from "./call.js";
import type { Requester } from "./requests.js";

/**
 * The page hashes with crypto.subtle, which takes whole buffers only, so a file is held whole in the
 * browser's memory (twice, briefly, while it is assembled or hashed). That is fine for what a person copies
 * from a browser; beyond this the page refuses and points to `qga-mqtt cp`, which streams.
 */
export const MAX_BROWSER_BYTES = 1024 ** 3;

/** Parts asked for at once, in both directions (as `qga-mqtt cp` does). */
export const IN_FLIGHT = 4;

/** The members the transfer verbs' replies share (README "Files of any size: transfers"). */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
export const Count = z.number().int().nonnegative();
export const TransferId = z.string().regex(/^[0-9a-f]{16}$/);
export const PartBytes = z.number().int().positive();

/** How far a transfer got: `bytes` of `size`. */
export type OnProgress = (bytes: number, size: number) => void;

/**
 * Why a transfer failed: the reply's error code (or `no_reply`, `refused`, `failed`, `too_large`,
 * `mismatch`) and a message a person can act on. `details` holds what the worker put beside code and
 * message (`received`, `offset`, `atomic_unavailable`).
 */
export class TransferError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = "TransferError";
  }
}

const ReplyError = z.looseObject({ code: z.string(), message: z.string() });

/** One transfer verb's request; its result parsed with `schema`, or a TransferError. */
export async function ask<T extends z.ZodType>(
  requests: Requester,
  vm: string,
  command: string,
  args: Record<string, unknown>,
  schema: T,
): Promise<z.infer<T>> {
  const outcome = await callVm(requests, vm, command, args);
  if (outcome.kind !== "reply") throw new TransferError(outcome.kind, `${command}: ${outcome.message}`);
  const { reply } = outcome;
  if (!reply.ok) {
    const error = ReplyError.safeParse(reply.error);
    if (!error.success) throw new TransferError("error", `${command} failed without saying why`);
    const { code, message, ...details } = error.data;
    throw new TransferError(code, `${command}: ${code}: ${message}`, details);
  }
  const parsed = schema.safeParse(reply.result);
  if (!parsed.success)
    throw new TransferError("bad_reply", `${command}: the worker's result is not what the page expects`);
  return parsed.data;
}

/**
 * The person cancelled the transfer (the files panel's Cancel): not a failure. Its message says what
 * became of the transfer: whether the worker confirmed the abort, and what is left.
 */
export class TransferCancelled extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransferCancelled";
  }
}

/**
 * `work`, or a rejection as soon as `signal` aborts, whichever comes first. On cancel `work` is left to
 * settle by itself (a part already published is answered by the worker whatever the page does): the
 * caller goes on to transfer-abort at once instead of waiting for it.
 */
export function untilCancelled<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  if (signal === undefined) return work;
  // Its rejection after a cancel is nobody's to handle.
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TransferCancelled("cancelled"));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

const Aborted = z.looseObject({ aborted: z.literal(true) });

/**
 * transfer-abort: the worker forgets the transfer after the part under way, closes its guest handle and
 * removes (or empties) a put's temporary file. Undefined once it confirmed, else why not (never throws:
 * the worker forgets an idle transfer anyway, after limits.transferIdleSeconds).
 */
export async function abortTransfer(
  requests: Requester,
  vm: string,
  transfer: string,
): Promise<string | undefined> {
  try {
    await ask(requests, vm, "transfer-abort", { transfer }, Aborted);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * What a cancel comes to: transfer-abort of `transfer` when one is held (its reply awaited), then the
 * TransferCancelled to throw, saying `left` (what the guest or the page keeps) once the worker confirmed.
 */
export async function cancelTransfer(
  requests: Requester,
  vm: string,
  transfer: string | undefined,
  left: string,
): Promise<TransferCancelled> {
  if (transfer === undefined) return new TransferCancelled(left);
  const refused = await abortTransfer(requests, vm, transfer);
  return new TransferCancelled(
    refused === undefined
      ? `transfer ${transfer} aborted; ${left}`
      : `the worker did not confirm the abort of transfer ${transfer} (${refused}); it forgets the transfer once idle`,
  );
}

/** A refusal before the first request: the file is over what the page holds in memory. */
export function tooLarge(what: string, size: number): TransferError {
  return new TransferError(
    "too_large",
    `${what} is ${size} bytes, over the page's ${MAX_BROWSER_BYTES} (it holds a file in memory): copy it with qga-mqtt cp`,
  );
}

/** Lower-case hex sha256 of `data`. */
export async function sha256Hex(data: BufferSource): Promise<string> {
  // crypto.subtle exists in secure contexts only: https pages and http://localhost.
  if (!globalThis.crypto?.subtle)
    throw new TransferError(
      "failed",
      "the browser hashes (crypto.subtle) only on https:// or localhost pages: serve the dashboard with TLS, or use qga-mqtt cp",
    );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function toBase64(data: Uint8Array): string {
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) text += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(text);
}

/** Bytes of base64 `text`; undefined when it is not base64. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const data = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) data[i] = binary.charCodeAt(i);
  return data;
}
