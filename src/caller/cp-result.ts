import { NoReplyError, ReplyError } from "./cp-channel.js";

/** How one VM's copy went. */
export interface VmCopy {
  readonly vm: string;
  readonly ok: boolean;
  /** The file's size (what is in place at the end when ok). */
  readonly bytes: number;
  readonly sha256?: string;
  /** Where the file is now: the guest path (put) or the local one (get). */
  readonly path: string;
  /** Bytes of parts sent or received by this run: less than `bytes` when it resumed an earlier one. */
  readonly moved: number;
  readonly ms: number;
  readonly error?: { readonly code: string; readonly message: string };
  /** Some request got no reply: counted as `call` counts a silent VM (exit 3). */
  readonly noReply?: boolean;
}

/** A failure of a copy as a VmCopy: the VM's own refusal, its silence, or a local problem. */
export function failed(
  base: Pick<VmCopy, "vm" | "bytes" | "path" | "moved">,
  started: number,
  error: unknown,
): VmCopy {
  const ms = round(performance.now() - started);
  if (error instanceof NoReplyError)
    return { ...base, ok: false, ms, noReply: true, error: { code: "no_reply", message: error.message } };
  if (error instanceof ReplyError)
    return { ...base, ok: false, ms, error: { code: error.code, message: error.message } };
  return { ...base, ok: false, ms, error: { code: "local_error", message: (error as Error).message } };
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
