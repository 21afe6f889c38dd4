import { useEffect, useState } from "preact/hooks";

/**
 * A change notice that coalesces: `fire` many times within `delayMs` and listeners hear once. Listeners
 * re-read whatever they show; the store is mutated in place.
 */
export class Signal {
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly delayMs: number) {}

  fire(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const listener of [...this.listeners]) listener();
    }, this.delayMs);
  }

  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Re-renders the calling component after every notice of `signal`; returns a counter that changes. */
export function useSignal(signal: Signal): number {
  const [version, setVersion] = useState(0);
  useEffect(() => signal.listen(() => setVersion((v) => v + 1)), [signal]);
  return version;
}

/** Re-renders every `ms` (ages shown on the page). */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return tick;
}
