import type { InventoryVm } from "../census/fleet-census.js";

/** The first resend, and how the wait grows after each (a reply lost once is rare; the wait doubles). */
const FIRST_RESEND_MS = 1_000;

/**
 * The VMs a request may go to again: those whose worker says it answers a repeated id with the first reply
 * for at least `timeoutSeconds` (its bridge info's `repeat_window_s`), so that a repeat never runs twice.
 */
export function repeatable(
  vms: readonly string[],
  inventory: readonly InventoryVm[],
  timeoutSeconds: number,
) {
  return new Set(
    vms.filter((vm) =>
      inventory.some(
        (entry) =>
          entry.name === vm && entry.repeat_window_s !== undefined && entry.repeat_window_s >= timeoutSeconds,
      ),
    ),
  );
}

/**
 * Sends a request again, with its id, to the VMs that have not answered: after 1 s, 2 s, 4 s... until
 * `untilMs`. On a clustered broker the caller's reply subscription reaches the other nodes a moment after
 * its SUBACK (no broker says when), and a reply published on another node in that moment is lost; the
 * repeat's reply comes from the worker's dedupe window. Returns the function that stops it.
 */
export function resendUnanswered(options: {
  readonly untilMs: number;
  readonly unanswered: () => readonly string[];
  readonly send: (vm: string) => void;
}): () => void {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const arm = (waitMs: number) => {
    if (Date.now() + waitMs - started >= options.untilMs) return;
    timer = setTimeout(() => {
      for (const vm of options.unanswered()) options.send(vm);
      arm(waitMs * 2);
    }, waitMs);
  };
  arm(FIRST_RESEND_MS);
  return () => clearTimeout(timer);
}
