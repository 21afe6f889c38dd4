/**
 * The few calls the request journal makes of SQLite, over whichever driver this Node has: its own
 * `node:sqlite` from Node 23 on (the image's Node 24 among them), else better-sqlite3 (Node 20 and 22, where
 * `node:sqlite` is missing or experimental). Both are synchronous and take the same SQL. On Node 24,
 * better-sqlite3 12 aborted the process in a statement's cleanup (`Assertion failed: (env) != nullptr`,
 * seen in CI), so it is not loaded there at all.
 */
export interface SqlStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

interface DriverModule {
  readonly open: (file: string) => SqlDatabase;
  readonly name: string;
}

/** Loads the driver this Node should use (once per call: the caller keeps what it opens). */
export async function sqliteDriver(
  nodeMajor = Number(process.versions.node.split(".")[0]),
): Promise<DriverModule> {
  if (nodeMajor >= 23) {
    // Not in @types/node 20's declarations: named through a variable, typed by the interface above.
    const builtin = "node:sqlite";
    const { DatabaseSync } = (await import(builtin)) as { DatabaseSync: new (file: string) => SqlDatabase };
    return { name: "node:sqlite", open: (file) => new DatabaseSync(file) };
  }
  const { default: Database } = await import("better-sqlite3");
  return { name: "better-sqlite3", open: (file) => new Database(file) as unknown as SqlDatabase };
}
