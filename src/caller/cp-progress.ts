/** How often the progress line is redrawn at most. */
const REDRAW_MS = 200;
/** The line is cut to this width: a wider one would wrap, and `\r` would no longer redraw it. */
const WIDTH = 120;

interface Entry {
  bytes: number;
  total: number;
  readonly started: number;
}

/**
 * The progress of a cp on a terminal: one line on stderr, redrawn in place, with bytes, rate and ETA per
 * VM (`web1 12.0/64.0 MiB 30.2 MiB/s 2s`). Disabled (not a terminal, or --json), it writes nothing.
 */
export class CpProgress {
  private readonly entries = new Map<string, Entry>();
  private drawn = 0;
  private shown = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly enabled: boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `label` (a VM, or `sha256` while hashing) is at `bytes` of `total`. */
  update(label: string, bytes: number, total: number): void {
    if (!this.enabled) return;
    const entry = this.entries.get(label);
    if (entry) {
      entry.bytes = bytes;
      entry.total = total;
    } else this.entries.set(label, { bytes, total, started: this.now() });
    const now = this.now();
    if (now - this.drawn < REDRAW_MS && bytes < total) return;
    this.drawn = now;
    this.shown = true;
    this.write(`\r\u001b[2K${this.line(now)}`);
  }

  /** `label` is done: it leaves the line. */
  finish(label: string): void {
    this.entries.delete(label);
  }

  /** Clears the line (before the results are printed). */
  clear(): void {
    if (this.shown) this.write("\r\u001b[2K");
    this.shown = false;
  }

  line(now = this.now()): string {
    const parts = [...this.entries].map(([label, entry]) => {
      const seconds = (now - entry.started) / 1000;
      const rate = seconds > 0 ? entry.bytes / seconds : 0;
      const eta = rate > 0 ? `${formatSeconds((entry.total - entry.bytes) / rate)}` : "-";
      return `${label} ${formatBytes(entry.bytes, entry.total)} ${formatRate(rate)} ${eta}`;
    });
    const text = parts.join("  ");
    return text.length > WIDTH ? `${text.slice(0, WIDTH - 1)}…` : text;
  }
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

function unitOf(bytes: number): number {
  let unit = 0;
  while (bytes >= 1024 ** (unit + 1) && unit < UNITS.length - 1) unit += 1;
  return unit;
}

/** `12.0/64.0 MiB`, in the unit of the total. */
export function formatBytes(bytes: number, total: number): string {
  const unit = unitOf(total);
  const scale = 1024 ** unit;
  const digits = unit === 0 ? 0 : 1;
  return `${(bytes / scale).toFixed(digits)}/${(total / scale).toFixed(digits)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  const unit = unitOf(bytesPerSecond);
  return `${(bytesPerSecond / 1024 ** unit).toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit]}/s`;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "-";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
