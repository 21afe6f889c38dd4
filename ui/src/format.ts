/** Formatting for the page: sizes, durations, ages. */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(value: number): string {
  let n = value;
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? n : n.toFixed(1)} ${UNITS[unit]}`;
}

export function age(fromMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - fromMs) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

export function millis(ms: number | undefined): string {
  if (ms === undefined) return "";
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function offset(ms: number | undefined): string {
  if (ms === undefined) return "";
  const abs = Math.abs(ms);
  const sign = ms < 0 ? "−" : "+";
  return abs < 1000 ? `${sign}${abs.toFixed(0)} ms` : `${sign}${(abs / 1000).toFixed(1)} s`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "";
}
