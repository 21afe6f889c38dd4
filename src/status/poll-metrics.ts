/**
 * Where a status poller reports each collect (WorkerMetrics fits). Declared here, by its user, so that
 * status/ needs nothing from http/.
 */
export interface PollMetrics {
  observePoll(seconds: number, ok: boolean): void;
}
