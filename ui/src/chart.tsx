export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

const WIDTH = 320;
const HEIGHT = 80;

/**
 * A small SVG line chart of readings over the time the page has been open; `max` fixes the top of the
 * scale (100 for percentages), else it follows the highest reading.
 */
export function LineChart({
  title,
  series,
  max,
  unit,
}: {
  title: string;
  series: readonly Series[];
  max?: number;
  unit: string;
}) {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return <p class="muted">{title}: no readings yet</p>;
  const t0 = Math.min(...all.map(([t]) => t));
  const t1 = Math.max(...all.map(([t]) => t), t0 + 1);
  const top = max ?? Math.max(...all.map(([, v]) => v), 0.01);
  const x = (t: number) => ((t - t0) / (t1 - t0)) * (WIDTH - 4) + 2;
  const y = (v: number) => HEIGHT - 2 - (Math.min(v, top) / top) * (HEIGHT - 4);
  const latest = series.map((s) => `${s.label} ${s.points.at(-1)?.[1].toFixed(1) ?? "–"}${unit}`).join(", ");
  return (
    <figure class="chart">
      <figcaption>
        {title}{" "}
        <span class="muted">
          (now: {latest}; scale 0–{top.toFixed(top < 10 ? 2 : 0)}
          {unit})
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}: ${latest}`}>
        <rect x={0} y={0} width={WIDTH} height={HEIGHT} class="chart-bg" />
        {series.map((s, i) =>
          s.points.length === 1 ? (
            <circle
              key={s.label}
              cx={x(s.points[0]![0])}
              cy={y(s.points[0]![1])}
              r={2}
              class={`line-${i % 4}`}
            />
          ) : (
            <polyline
              key={s.label}
              class={`line line-${i % 4}`}
              points={s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
            />
          ),
        )}
      </svg>
    </figure>
  );
}
