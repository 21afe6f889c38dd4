/**
 * Where the runner reports each reply (WorkerMetrics fits). Declared here, by its user, so that commands/
 * needs nothing from http/.
 */
export interface CommandMetrics {
  /** `outcome`: "ok" or the reply's error code; `seconds`: from the request's arrival to its reply. */
  observeCommand(command: string, outcome: string, seconds: number): void;
}
