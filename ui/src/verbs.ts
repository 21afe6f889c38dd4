/** The verbs the VM page offers as buttons (no arguments), in the order shown; README "Requests and replies". */
export const BUTTON_VERBS = [
  "ping",
  "status",
  "sync-time",
  "freeze",
  "thaw",
  "reboot",
  "shutdown",
  "halt",
] as const;

/** Verbs that stop or restart the guest: asked for a confirmation first. */
export const POWER_VERBS: ReadonlySet<string> = new Set(["reboot", "shutdown", "halt"]);

/** The worker's verbs (everything else on a VM's command list is a raw guest-agent command). */
export const ALL_VERBS = [
  "ping",
  "status",
  "exec",
  "exec-status",
  "read-file",
  "write-file",
  "put-begin",
  "put-part",
  "put-end",
  "get-begin",
  "get-part",
  "get-end",
  "transfer-abort",
  "shutdown",
  "reboot",
  "halt",
  "freeze",
  "thaw",
  "sync-time",
  "set-password",
] as const;

/** The button verbs `commands` (a VM's list from its bridge info) allows. */
export function allowedButtons(commands: readonly string[] | undefined): string[] {
  if (!commands) return [];
  const allowed = new Set(commands);
  return BUTTON_VERBS.filter((verb) => allowed.has(verb));
}
