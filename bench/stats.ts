/** Summary statistics for benchmark samples (milliseconds). */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = sorted.reduce((sum, x) => sum + x, 0) / sorted.length;
  return { n: sorted.length, median: at(0.5), p99: at(0.99), mean };
}

/** The middle sample (the upper one of an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError("no samples");
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

export function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}
