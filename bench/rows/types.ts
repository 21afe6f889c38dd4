export interface RowOptions {
  readonly quick: boolean;
}

export interface RowResult {
  readonly id: string;
  readonly title: string;
  readonly goal: string;
  /** null: no goal for this row, or the goal could not be judged. */
  readonly pass: boolean | null;
  /** Every figure of the row (ms, /s, %, MiB, ratios), for bench/results/latest.json. */
  readonly figures: Record<string, number | string>;
  /** Markdown table rows: measurement, figure, ratio. */
  readonly table: ReadonlyArray<readonly [string, string, string]>;
  readonly notes: readonly string[];
}
