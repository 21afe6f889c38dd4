/**
 * What an in-place put (`atomic: false`) leaves behind that the guest's file cannot say: how many of the
 * file's bytes the worker acknowledged, and their sha256. An atomic put's temporary file, named after the
 * transfer, is its own evidence; a file written in place could be an older file's, so after a worker
 * restart it is resumed only when the worker's own record says so and the guest's bytes still hash to it.
 * Kept in the worker's state folder beside the request journal; without one, an in-place put starts over.
 */
export interface InPlaceProgress {
  /** Bytes [0, received) acknowledged (written and flushed in the guest). */
  readonly received: number;
  /** Their sha256, hex. */
  readonly sha256: string;
}

export interface PutLedger {
  recall(id: string): InPlaceProgress | undefined;
  note(id: string, progress: InPlaceProgress): void;
  forget(id: string): void;
}
