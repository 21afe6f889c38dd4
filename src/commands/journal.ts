/**
 * What a request id has done, kept where a crash cannot lose it (state/sqlite-journal.ts), for the
 * commands that change the guest: a repeat after a restart is answered from here instead of running
 * again. The runner writes `started` before the command reaches the agent and `finished` once it has
 * its reply; reads (the `read` set) are not journaled: running one again changes nothing.
 */
export interface RequestJournal {
  /** What the id did before, if this worker's journal knows it (and it is within the window). */
  lookup(key: string): JournalRecord | undefined;
  /** The request is about to reach the agent. */
  started(key: string): void;
  /** The request is done: its reply as JSON when small enough to keep, else undefined. */
  finished(key: string, outcome: string, reply: string | undefined): void;
  /** Nothing reached the guest (refused before it): a retry with the id must run. */
  forget(key: string): void;
}

export type JournalRecord =
  | { readonly state: "started"; readonly at: number }
  | { readonly state: "finished"; readonly at: number; readonly outcome: string; readonly reply?: string };
