import type { ResultOf } from "../../qga/catalogue/index.js";
import type { RequestAgent } from "../restricted-agent.js";
import { decodeStream, type Encoding } from "./output.js";

/** What `exec` and `exec-status` reply once the program has exited. */
export interface ExecFinished {
  readonly pid: number;
  readonly exited: true;
  readonly exit_code?: number;
  readonly signal?: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdout_encoding: Encoding;
  readonly stderr_encoding: Encoding;
  readonly stdout_truncated: boolean;
  readonly stderr_truncated: boolean;
  /** From just before guest-exec to the poll that saw the exit; absent for a program exec did not start. */
  readonly ms?: number;
}

export interface ExecRunning {
  readonly pid: number;
  readonly exited: false;
  readonly ms?: number;
}

export type ExecState = ExecFinished | ExecRunning;

// A finished result is kept for a late exec-status (after an exec timeout, or a lost reply): long enough
// for a person to ask again, few enough and small enough that a busy guest cannot fill the worker's memory.
export const KEEP_MINUTES = 10;
const KEEP_MS = KEEP_MINUTES * 60_000;
const KEEP_ENTRIES = 32;
const KEEP_CHARS = 32 * 1024 * 1024;
const STARTS_KEPT = 256;

/**
 * The worker's side of one agent's exec processes. guest-exec-status is one-shot: the status that sees
 * the exit reaps the process and its output, so every status goes through here, one call per pid at a
 * time (an exec poll and an exec-status for the same pid share it), and a finished result is kept. One per
 * VM, owned by its runtime: pids belong to one agent.
 */
export class ExecTracker {
  private readonly finished = new Map<number, { state: ExecFinished; expires: number; chars: number }>();
  private readonly polls = new Map<number, Promise<ExecState>>();
  private readonly starts = new Map<number, number>();
  private keptChars = 0;

  constructor(
    private readonly agent: RequestAgent,
    private readonly now: () => number = Date.now,
  ) {}

  /** A process exec started at `at`: a result kept for an earlier process with that pid is stale now. */
  started(pid: number, at: number): void {
    this.forget(pid);
    this.starts.delete(pid);
    this.starts.set(pid, at);
    for (const oldest of this.starts.keys()) {
      if (this.starts.size <= STARTS_KEPT) break;
      this.starts.delete(oldest);
    }
  }

  /** The process's state: the kept result, the status call already under way, or a new one. */
  status(pid: number, outputLimit: number, timeoutMs: number): Promise<ExecState> {
    const kept = this.kept(pid);
    if (kept) return Promise.resolve(kept);
    const running = this.polls.get(pid);
    if (running) return running;
    const poll = this.poll(pid, outputLimit, timeoutMs).finally(() => this.polls.delete(pid));
    this.polls.set(pid, poll);
    return poll;
  }

  private async poll(pid: number, outputLimit: number, timeoutMs: number): Promise<ExecState> {
    const raw = await this.agent.call("guest-exec-status", { pid }, { timeoutMs });
    const started = this.starts.get(pid);
    const ms = started === undefined ? undefined : this.now() - started;
    if (!raw.exited) return { pid, exited: false, ...(ms !== undefined ? { ms } : {}) };
    const state = finishedState(pid, raw, outputLimit, ms);
    this.starts.delete(pid);
    this.keep(state);
    return state;
  }

  private kept(pid: number): ExecFinished | undefined {
    const entry = this.finished.get(pid);
    if (!entry) return undefined;
    if (entry.expires > this.now()) return entry.state;
    this.forget(pid);
    return undefined;
  }

  private keep(state: ExecFinished): void {
    this.forget(state.pid);
    const chars = state.stdout.length + state.stderr.length;
    this.finished.set(state.pid, { state, expires: this.now() + KEEP_MS, chars });
    this.keptChars += chars;
    for (const [pid, entry] of this.finished) {
      const over = this.finished.size > KEEP_ENTRIES || this.keptChars > KEEP_CHARS;
      if (entry.expires > this.now() && (!over || pid === state.pid)) break;
      this.forget(pid);
    }
  }

  private forget(pid: number): void {
    const entry = this.finished.get(pid);
    if (!entry) return;
    this.finished.delete(pid);
    this.keptChars -= entry.chars;
  }
}

function finishedState(
  pid: number,
  raw: ResultOf<"guest-exec-status">,
  outputLimit: number,
  ms: number | undefined,
): ExecFinished {
  const stdout = decodeStream(raw["out-data"], raw["out-truncated"] === true, outputLimit);
  const stderr = decodeStream(raw["err-data"], raw["err-truncated"] === true, outputLimit);
  return {
    pid,
    exited: true,
    ...(raw.exitcode !== undefined ? { exit_code: raw.exitcode } : {}),
    ...(raw.signal !== undefined ? { signal: raw.signal } : {}),
    stdout: stdout.data,
    stderr: stderr.data,
    stdout_encoding: stdout.encoding,
    stderr_encoding: stderr.encoding,
    stdout_truncated: stdout.truncated,
    stderr_truncated: stderr.truncated,
    ...(ms !== undefined ? { ms } : {}),
  };
}
