import { WorkerError } from "../errors.js";

/*
 * Environment variables of a restricted exec. The agent's `env` replaces the program's whole environment,
 * and the program is root's: a loader or interpreter variable turns "run /bin/echo" into "run anything"
 * (LD_PRELOAD with a library written through the files verbs; BASH_ENV=/dev/stdin with stdin for a program
 * that is a shell script). So under an exec restriction `env` is refused unless each name is allowed by
 * `restrictions.*.env`, and the names below are never allowed, whatever that list says.
 */

/**
 * Names (a trailing `*` is a prefix) that make a dynamic loader, a shell or an interpreter load or run
 * code, or make a program start another one of the caller's choosing.
 */
export const NEVER_ALLOWED_ENV = [
  "LD_*",
  "GCONV_PATH",
  "GLIBC_TUNABLES",
  "HOSTALIASES",
  "LOCPATH",
  "MALLOC_*",
  "NLSPATH",
  "RESOLV_*",
  "BASH_ENV",
  "BASH_FUNC_*",
  "BASHOPTS",
  "CDPATH",
  "ENV",
  "GLOBIGNORE",
  "IFS",
  "PATH",
  "PROMPT_COMMAND",
  "PS4",
  "SHELLOPTS",
  "PYTHON*",
  "PERL*",
  "RUBY*",
  "GEM_*",
  "NODE_*",
  "CLASSPATH",
  "JAVA_TOOL_OPTIONS",
  "JDK_JAVA_OPTIONS",
  "_JAVA_OPTIONS",
  "LUA_*",
  "PHPRC",
  "PHP_INI_SCAN_DIR",
  "TCLLIBPATH",
  "GIT_*",
  "EDITOR",
  "VISUAL",
  "PAGER",
  "BROWSER",
  "LESSOPEN",
  "LESSCLOSE",
  "SYSTEMD_*",
  // Windows (names there are case-insensitive, as everything here is matched): the shell cmd.exe starts,
  // the extensions a bare name is tried with, where system DLLs and PowerShell modules load from, a
  // compatibility shim layer, and .NET's profiler and startup hooks, which load a DLL into the program.
  "COMSPEC",
  "PATHEXT",
  "SYSTEMROOT",
  "WINDIR",
  "PSMODULEPATH",
  "PSEXECUTIONPOLICYPREFERENCE",
  "__COMPAT_LAYER",
  "COR_*",
  "CORECLR_*",
  "COMPLUS_*",
  "DOTNET_*",
] as const;

/** `NAME` or a glob over names, where `*` matches any run of characters and `?` one. */
export function matchesNameGlob(name: string, glob: string, ignoreCase = false): boolean {
  let source = "";
  for (const char of glob) {
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, ignoreCase ? "i" : "").test(name);
}

/** The never-allowed entry that covers `name`, if one does; in any case, as Windows reads names. */
export function neverAllowedEntry(name: string): string | undefined {
  return NEVER_ALLOWED_ENV.find((entry) => matchesNameGlob(name, entry, true));
}

/**
 * Refuses (`forbidden`) an `env` that a restricted exec may not pass. `env` is what the requester sent,
 * unvalidated: anything that is not a list of `NAME=value` strings cannot be judged, so it is refused too.
 * Values are never quoted in the message: they may be secrets.
 */
export function authorizeEnv(env: unknown, allowed: readonly string[] | undefined, vm: string): void {
  if (env === undefined) return;
  if (!Array.isArray(env) || env.length > 1024) {
    throw new WorkerError("forbidden", `env on ${vm} must be a list of NAME=value strings`);
  }
  for (const entry of env) {
    const name = typeof entry === "string" ? /^([^=]+)=/.exec(entry)?.[1] : undefined;
    if (name === undefined) {
      throw new WorkerError("forbidden", `env on ${vm} must be a list of NAME=value strings`);
    }
    const never = neverAllowedEntry(name);
    if (never !== undefined) {
      throw new WorkerError(
        "forbidden",
        `${name} may never be set for a restricted exec on ${vm}: it makes a loader, shell or interpreter run code of the caller's choosing`,
      );
    }
    if (!allowed?.some((glob) => matchesNameGlob(name, glob))) {
      throw new WorkerError(
        "forbidden",
        `${name} is not among the environment variables exec may set on ${vm} (restrictions: env)`,
      );
    }
  }
}
