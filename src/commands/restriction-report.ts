import type { Restriction } from "../config/schema.js";
import { neverAllowedEntry } from "./exec-env.js";
import { matchesAnyGlob } from "./paths.js";
import { matchesAnyWindowsGlob } from "./windows-paths.js";

/*
 * What `check-config` says of a VM's restrictions: what they cover, and the entries that look like a
 * mistake. An allowed program that is a shell, an interpreter or a program that runs other programs
 * (find -exec, env, xargs, sudo) allows everything: its arguments or stdin say what runs.
 */

const RUNS_ANYTHING = [
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "mksh",
  "csh",
  "tcsh",
  "fish",
  "busybox",
  "toybox",
  "python",
  "python2",
  "python3",
  "perl",
  "ruby",
  "node",
  "nodejs",
  "php",
  "lua",
  "tclsh",
  "wish",
  "awk",
  "gawk",
  "mawk",
  "nawk",
  "sed",
  "env",
  "xargs",
  "find",
  "sudo",
  "su",
  "doas",
  "pkexec",
  "nohup",
  "nice",
  "ionice",
  "timeout",
  "setsid",
  "stdbuf",
  "chroot",
  "nsenter",
  "unshare",
  "systemd-run",
  "script",
  "strace",
  "ltrace",
  "gdb",
  "vi",
  "vim",
  "less",
  "more",
  "tar",
  "rsync",
  "ssh",
  "ldd",
  "watch",
  "flock",
  "runuser",
  "bwrap",
  "docker",
  "podman",
  "crontab",
  "at",
];
const PROGRAM_DIRS = ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

/**
 * Their Windows counterparts, where Windows keeps them. A .bat or .cmd file runs through cmd.exe /c with
 * its arguments parsed again, so a glob that allows one is flagged as well.
 */
const WINDOWS_RUNS_ANYTHING = [
  "C:\\Windows\\System32\\cmd.exe",
  "C:\\Windows\\SysWOW64\\cmd.exe",
  "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
  "C:\\Windows\\SysWOW64\\WindowsPowerShell\\v1.0\\powershell.exe",
  "C:\\Program Files\\PowerShell\\7\\pwsh.exe",
  ...[
    "wscript",
    "cscript",
    "mshta",
    "rundll32",
    "regsvr32",
    "msiexec",
    "schtasks",
    "wmic",
    "forfiles",
    "runas",
    "certutil",
    "bitsadmin",
  ].map((name) => `C:\\Windows\\System32\\${name}.exe`),
];
const WINDOWS_SCRIPTS = /\.(bat|cmd)$/i;

/** One line per kind: what this VM's requests may reach, verbs and raw commands alike. */
export function describeRestriction(restriction: Restriction): string[] {
  const { exec, env, files, pathFlavour } = restriction;
  const execLine =
    exec === undefined
      ? "exec: any program the policy's exec set allows (no restrictions.exec)"
      : `exec: ${exec.join(" ") || "(none)"} (exec, guest-exec; guest-exec-status only for those pids); env: ${env?.length ? env.join(" ") : "none"}`;
  const filesLine =
    files === undefined
      ? "files: any path the policy's files set allows (no restrictions.files)"
      : `files: ${files.join(" ") || "(none)"} (read-file, write-file, guest-file-open; other guest-file-* only on handles opened so)`;
  const flavourLine = `paths: ${pathFlavour ?? "auto"}${pathFlavour === undefined || pathFlavour === "auto" ? " (Windows or POSIX as guest-get-osinfo says; restricted paths refused until it has)" : ""}`;
  return exec === undefined && files === undefined
    ? [execLine, filesLine]
    : [execLine, filesLine, flavourLine];
}

/** Entries that defeat the restriction or do nothing, each with what to do instead. */
export function restrictionWarnings(restriction: Restriction): string[] {
  const warnings: string[] = [];
  for (const glob of restriction.exec ?? []) {
    const hits = glob.startsWith("/")
      ? PROGRAM_DIRS.flatMap((dir) => RUNS_ANYTHING.map((name) => `${dir}/${name}`)).filter((program) =>
          matchesAnyGlob(program, [glob]),
        )
      : windowsHits(glob);
    if (hits.length > 0) {
      const shown = hits.slice(0, 3).join(", ") + (hits.length > 3 ? `, … (${hits.length})` : "");
      warnings.push(
        `restrictions exec "${glob}" allows ${shown}: a shell, interpreter or program that starts others runs anything its arguments or stdin say; allow the exact programs instead`,
      );
    }
  }
  for (const name of restriction.env ?? []) {
    if (/[*?]/.test(name) || neverAllowedEntry(name) === undefined) continue;
    warnings.push(
      `restrictions env "${name}" is never allowed (a loader or interpreter variable): remove it`,
    );
  }
  return warnings;
}

/** The Windows programs (and a script, for a glob that can match one) that `glob` allows. */
function windowsHits(glob: string): string[] {
  const hits = WINDOWS_RUNS_ANYTHING.filter((program) => matchesAnyWindowsGlob(program, [glob]));
  const dir = glob.slice(0, Math.max(glob.lastIndexOf("\\"), glob.lastIndexOf("/")) + 1);
  const script = `${dir}qga-mqtt-check.bat`;
  if (WINDOWS_SCRIPTS.test(glob) || matchesAnyWindowsGlob(script, [glob])) hits.push(`${dir}*.bat`);
  return hits;
}
