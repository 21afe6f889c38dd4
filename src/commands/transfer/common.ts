import { argNonEmptyString, describePath } from "../../qga/catalogue/scalars.js";
import type { VerbContext } from "../verbs/verb.js";

/** A transfer id: 16 lower-case hex characters. */
export function argTransferId() {
  return argNonEmptyString().regex(/^[0-9a-f]{16}$/, {
    error: (iss) => `${describePath(iss.path)} must be a transfer id (16 lower-case hex characters)`,
  });
}

/** A sha256 in hex: 64 lower-case hex characters. */
export function argSha256() {
  return argNonEmptyString().regex(/^[0-9a-f]{64}$/, {
    error: (iss) => `${describePath(iss.path)} must be a sha256 (64 lower-case hex characters)`,
  });
}

const EVENT_EVERY_MS = 1000;

export interface Progress {
  readonly id: string;
  readonly direction: "put" | "get";
  readonly path: string;
  lastEventAt: number;
}

/**
 * The `transfer` event on the VM's event topic: at most one a second per transfer while it runs, and
 * one at its end (`done: true`).
 */
export function progress(context: VerbContext, of: Progress, bytes: number, size: number, done = false) {
  const now = Date.now();
  if (!done && now - of.lastEventAt < EVENT_EVERY_MS) return;
  of.lastEventAt = now;
  context.emit({
    event: "transfer",
    transfer: of.id,
    direction: of.direction,
    path: of.path,
    bytes,
    size,
    ...(done ? { done: true } : {}),
  });
}
