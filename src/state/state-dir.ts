import { accessSync, constants, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Where the worker keeps what must survive a restart (the request journal): `state.dir` when set; else the
 * folder systemd made for the unit (`StateDirectory=` sets $STATE_DIRECTORY); else the user's state folder
 * ($XDG_STATE_HOME or ~/.local/state) under `qga-mqtt`. Undefined with the reason when it cannot be
 * written: the worker then says so and keeps request ids in memory only.
 */
export function resolveStateDir(
  configured: string | undefined,
  env: NodeJS.ProcessEnv,
): { dir: string } | { problem: string } {
  const systemd = env.STATE_DIRECTORY?.split(":")[0];
  const home = env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state");
  const dir = configured ?? systemd ?? path.join(home, "qga-mqtt");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    return { dir };
  } catch (error) {
    return { problem: `${dir} cannot be written (${(error as Error).message})` };
  }
}
