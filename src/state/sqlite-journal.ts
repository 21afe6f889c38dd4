import { mkdirSync } from "node:fs";
import path from "node:path";
import type { JournalRecord, RequestJournal } from "../commands/journal.js";
import type { SqlDatabase, SqlStatement } from "./sqlite-driver.js";
import { SqlitePutLedger } from "./sqlite-put-ledger.js";

export interface SqliteJournalOptions {
  /** The folder of the database file (created, mode 0700: replies may hold what a guest said). */
  readonly dir: string;
  /** One file per worker id: two workers that share a folder (tests, a host with two) never mix ids. */
  readonly worker: string;
  /** Records older than this are dropped. */
  readonly windowMs: number;
  /** Kept replies all together; past it the oldest lose their reply (a repeat then gets `duplicate`). */
  readonly maxBytes: number;
  readonly now?: () => number;
  /**
   * Told of a read or write that failed (disk full, I/O error): the request goes on unjournaled, as a
   * worker without a state folder does, rather than not at all.
   */
  readonly onError?: (error: Error, action: string) => void;
  /** Opens the database file (see sqlite-driver.ts). */
  readonly open: (file: string) => SqlDatabase;
}

// Pruning looks at the whole table: every this many writes, not at each.
const PRUNE_EVERY = 512;

// An in-place put left unfinished this long starts over (README "Files of any size").
const IN_PLACE_PUT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * The request journal in SQLite (a synchronous driver, so a record is in the file before the call returns,
 * and the command is sent after it). WAL with synchronous=NORMAL: a commit survives the worker's
 * crash (SIGKILL, OOM) at no fsync per request; a power loss may lose the last commits (see README).
 */
export class SqliteJournal implements RequestJournal {
  private readonly db: SqlDatabase;
  private readonly now: () => number;
  private writes = 0;
  private readonly statements: Readonly<Record<StatementName, SqlStatement>>;
  /** The in-place puts' progress, in the same database (the same folder, the same crash guarantees). */
  readonly puts: SqlitePutLedger;

  constructor(private readonly options: SqliteJournalOptions) {
    this.now = options.now ?? Date.now;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const file = path.join(options.dir, `requests-${options.worker.replace(/[^A-Za-z0-9._-]/g, "_")}.sqlite`);
    this.db = options.open(file);
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS requests (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT,
        reply TEXT,
        bytes INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS requests_at ON requests (at);
    `);
    this.statements = {
      lookup: this.db.prepare("SELECT state, at, outcome, reply FROM requests WHERE key = ?"),
      started: this.db.prepare(
        "INSERT OR REPLACE INTO requests (key, state, at, outcome, reply, bytes) VALUES (?, 'started', ?, NULL, NULL, 0)",
      ),
      finished: this.db.prepare(
        "UPDATE requests SET state = 'finished', outcome = ?, reply = ?, bytes = ?, at = ? WHERE key = ?",
      ),
      forget: this.db.prepare("DELETE FROM requests WHERE key = ?"),
      expire: this.db.prepare("DELETE FROM requests WHERE at < ?"),
      keptBytes: this.db.prepare("SELECT SUM(bytes) AS bytes FROM requests"),
      oldestKept: this.db.prepare("SELECT key, bytes FROM requests WHERE bytes > 0 ORDER BY at LIMIT ?"),
      dropReply: this.db.prepare("UPDATE requests SET reply = NULL, bytes = 0 WHERE key = ?"),
    };
    this.prune();
    this.puts = new SqlitePutLedger(this.db, {
      maxAgeMs: IN_PLACE_PUT_MAX_AGE_MS,
      now: this.now,
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }

  lookup(key: string): JournalRecord | undefined {
    return this.safely("read", () => this.read(key));
  }

  started(key: string): void {
    this.safely("write", () => {
      this.statements.started.run(key, this.now());
      this.afterWrite();
    });
  }

  finished(key: string, outcome: string, reply: string | undefined): void {
    const bytes = reply === undefined ? 0 : Buffer.byteLength(reply);
    this.safely("write", () => {
      // No reply kept (too large): the record stays, so a repeat is still never run again.
      this.statements.finished.run(outcome, reply ?? null, bytes, this.now(), key);
      this.afterWrite();
    });
  }

  forget(key: string): void {
    this.safely("write", () => this.statements.forget.run(key));
  }

  close(): void {
    this.db.close();
  }

  private safely<T>(action: string, work: () => T): T | undefined {
    try {
      return work();
    } catch (error) {
      this.options.onError?.(error as Error, action);
      return undefined;
    }
  }

  private read(key: string): JournalRecord | undefined {
    const row = this.statements.lookup.get(key) as Row | undefined;
    if (!row || row.at < this.now() - this.options.windowMs) return undefined;
    if (row.state === "started") return { state: "started", at: row.at };
    return {
      state: "finished",
      at: row.at,
      outcome: row.outcome ?? "ok",
      ...(row.reply !== null ? { reply: row.reply } : {}),
    };
  }

  private afterWrite(): void {
    if (++this.writes % PRUNE_EVERY === 0) this.prune();
  }

  /** Drops expired records, then the oldest replies until all kept ones fit `maxBytes`. */
  private prune(): void {
    this.statements.expire.run(this.now() - this.options.windowMs);
    let kept = (this.statements.keptBytes.get() as { bytes: number | null } | undefined)?.bytes ?? 0;
    while (kept > this.options.maxBytes) {
      const oldest = this.statements.oldestKept.all(64) as Array<{ key: string; bytes: number }>;
      if (oldest.length === 0) break;
      for (const row of oldest) {
        if (kept <= this.options.maxBytes) break;
        this.statements.dropReply.run(row.key);
        kept -= row.bytes;
      }
    }
  }
}

type StatementName =
  | "lookup"
  | "started"
  | "finished"
  | "forget"
  | "expire"
  | "keptBytes"
  | "oldestKept"
  | "dropReply";

interface Row {
  readonly state: string;
  readonly at: number;
  readonly outcome: string | null;
  readonly reply: string | null;
}
