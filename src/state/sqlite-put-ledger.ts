import type { InPlaceProgress, PutLedger } from "../commands/transfer/put-ledger.js";
import type { SqlDatabase, SqlStatement } from "./sqlite-driver.js";

export interface SqlitePutLedgerOptions {
  /** Records older than this are dropped: an in-place put left longer starts over. */
  readonly maxAgeMs: number;
  readonly now?: () => number;
  /** Told of a read or write that failed: the put goes on unrecorded (it starts over after a restart). */
  readonly onError?: (error: Error, action: string) => void;
}

// Pruning looks at the whole table: every this many writes, not at each.
const PRUNE_EVERY = 512;

interface Row {
  readonly received: number;
  readonly sha256: string;
  readonly at: number;
}

/** The in-place puts' progress in a table of the request journal's database (one write per part). */
export class SqlitePutLedger implements PutLedger {
  private readonly now: () => number;
  private writes = 0;
  private readonly statements: Readonly<Record<"recall" | "note" | "forget" | "expire", SqlStatement>>;

  constructor(
    db: SqlDatabase,
    private readonly options: SqlitePutLedgerOptions,
  ) {
    this.now = options.now ?? Date.now;
    db.exec(`
      CREATE TABLE IF NOT EXISTS in_place_puts (
        id TEXT PRIMARY KEY,
        received INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        at INTEGER NOT NULL
      );
    `);
    this.statements = {
      recall: db.prepare("SELECT received, sha256, at FROM in_place_puts WHERE id = ?"),
      note: db.prepare("INSERT OR REPLACE INTO in_place_puts (id, received, sha256, at) VALUES (?, ?, ?, ?)"),
      forget: db.prepare("DELETE FROM in_place_puts WHERE id = ?"),
      expire: db.prepare("DELETE FROM in_place_puts WHERE at < ?"),
    };
    this.safely("write", () => this.statements.expire.run(this.now() - options.maxAgeMs));
  }

  recall(id: string): InPlaceProgress | undefined {
    return this.safely("read", () => {
      const row = this.statements.recall.get(id) as Row | undefined;
      if (!row || row.at < this.now() - this.options.maxAgeMs) return undefined;
      return { received: row.received, sha256: row.sha256 };
    });
  }

  note(id: string, progress: InPlaceProgress): void {
    this.safely("write", () => {
      this.statements.note.run(id, progress.received, progress.sha256, this.now());
      if (++this.writes % PRUNE_EVERY === 0) this.statements.expire.run(this.now() - this.options.maxAgeMs);
    });
  }

  forget(id: string): void {
    this.safely("write", () => this.statements.forget.run(id));
  }

  private safely<T>(action: string, work: () => T): T | undefined {
    try {
      return work();
    } catch (error) {
      this.options.onError?.(error as Error, `in-place put ${action}`);
      return undefined;
    }
  }
}
