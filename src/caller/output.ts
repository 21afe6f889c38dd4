/** Where the fleet clients write: the CLI passes the process's streams, tests their own. */
export interface Output {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stderr is a terminal: a fleet call shows its progress there (never in --json mode). */
  readonly progress?: boolean;
}

/** The longest wait for the workers' retained info after subscribing (it usually ends sooner: see FleetCensus.read). */
export const INVENTORY_WINDOW_MS = 500;
