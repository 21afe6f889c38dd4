import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { sqliteDriver } from "./sqlite-driver.js";
import { SqliteJournal } from "./sqlite-journal.js";
import { resolveStateDir } from "./state-dir.js";

// After the first failure, one line per this many: a full disk must not also fill the log.
const ERRORS_LOGGED_EVERY = 1000;

/**
 * The worker's request journal in its state folder, or undefined (with a warning saying why and what it
 * costs) when the journal is off or the folder cannot be written: the worker then runs as before, with
 * request ids in memory only.
 */
export async function openJournal(
  config: Config,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<SqliteJournal | undefined> {
  if (!config.state.journal) {
    log.info(
      "state.journal is off: request ids are kept in memory only (a crash can make a retry run twice)",
    );
    return undefined;
  }
  const where = resolveStateDir(config.state.dir, env);
  if ("problem" in where) {
    log.warn(
      { problem: where.problem },
      "no writable state folder (set state.dir or QGA_MQTT_STATE_DIR): request ids are kept in memory only, so a retry after a crash may run a command twice",
    );
    return undefined;
  }
  let failures = 0;
  try {
    const driver = await sqliteDriver();
    const journal = new SqliteJournal({
      open: driver.open,
      dir: where.dir,
      worker: config.worker.id,
      windowMs: config.limits.dedupeWindowSeconds * 1000,
      maxBytes: config.limits.dedupeBytes,
      onError: (error, action) => {
        if (failures++ % ERRORS_LOGGED_EVERY === 0)
          log.error(
            { err: error, action, failures },
            "the request journal failed: this request is not journaled",
          );
      },
    });
    log.info(
      { dir: where.dir, driver: driver.name },
      "request journal open: ids of commands that change a guest survive a restart",
    );
    return journal;
  } catch (error) {
    log.warn(
      { err: error, dir: where.dir },
      "could not open the request journal: request ids are kept in memory only",
    );
    return undefined;
  }
}
