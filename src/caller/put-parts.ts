/*
 * The scheduling of a put's parts, shared by `qga-mqtt cp` (cp-put.ts) and the console's page
 * (ui/src/transfer-put.ts): no Node imports.
 */

/** Resyncs in a row that do not move the transfer forward before the put gives up. */
const MAX_STALLS = 5;

export interface PartSchedule {
  readonly size: number;
  /** What the worker already has (put-begin's `received`). */
  readonly from: number;
  readonly partBytes: number;
  readonly inFlight: number;
  /** Sends the part at [offset, offset + length); resolves with the worker's `received`. */
  readonly sendPart: (offset: number, length: number) => Promise<number>;
  readonly onAcked: (acked: number) => void;
  /**
   * Where to go on from when `error` is a refusal that carries it (`invalid_arguments` with `received`:
   * a part damaged in transit, parts out of turn); undefined for every other failure, which ends the put.
   */
  readonly resyncPoint: (error: unknown) => number | undefined;
  /** The failure when the worker's count stops moving. */
  readonly stalled: (acked: number) => Error;
}

/**
 * The parts of [from, size), `inFlight` at once, until the worker has acknowledged all of them. A
 * refusal with a resync point goes on from there; refusals of parts sent before the last resync only
 * repeat what it said.
 */
export async function sendParts(schedule: PartSchedule): Promise<void> {
  const { size, partBytes, sendPart, onAcked, resyncPoint } = schedule;
  let next = schedule.from;
  let acked = schedule.from;
  let generation = 0;
  let stalls = 0;
  let lastResync = -1;
  let failure: { error: unknown } | undefined;
  const inFlight = new Set<Promise<void>>();
  const resync = (received: number): void => {
    generation += 1;
    stalls = received > lastResync ? 0 : stalls + 1;
    lastResync = received;
    next = received;
    acked = Math.max(acked, received);
  };
  while (acked < size) {
    while (failure === undefined && inFlight.size < schedule.inFlight && next < size) {
      const offset = next;
      const length = Math.min(partBytes, size - offset);
      const sentIn = generation;
      next += length;
      const part: Promise<void> = sendPart(offset, length)
        .then(
          (received) => {
            acked = Math.max(acked, received);
            // The worker is ahead (parts of an interrupted run still queued there were written): skip on.
            next = Math.max(next, acked);
            onAcked(acked);
          },
          (error: unknown) => {
            const received = resyncPoint(error);
            if (received === undefined) {
              failure ??= { error };
            } else if (sentIn === generation) {
              resync(received);
              if (stalls >= MAX_STALLS) failure ??= { error };
            }
          },
        )
        .finally(() => inFlight.delete(part));
      inFlight.add(part);
    }
    if (failure !== undefined) {
      await Promise.allSettled(inFlight);
      throw failure.error;
    }
    if (inFlight.size > 0) await Promise.race(inFlight);
    else if (acked < size) {
      // Everything sent was answered, yet the worker has less: go on from what it has.
      resync(acked);
      if (stalls >= MAX_STALLS) throw schedule.stalled(acked);
    }
  }
  // Late answers of parts a resync made redundant: nothing to wait for but their settling.
  await Promise.allSettled(inFlight);
}

/** A byte count from a refusal's details (`received`), if it is one. */
export function byteCount(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
