// What qemu-ga 7.2 does with one parsed message: qapi/qmp-dispatch.c's envelope checks, the QAPI
// input visitor's argument checks, and the command. Texts and their order were checked against the
// real agent (see test/unit/fake-agent.test.ts, which compares both on the same bytes).
import { fromJs, isInt64, QDict, type QValue, qdictEntries, toJs } from "./qobject.js";

/** Throw from a handler to answer {"error": {"class": errorClass, "desc": desc}}. */
export class AgentFailure extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${errorClass}: ${desc}`);
    this.name = "AgentFailure";
  }
}

/** Return from a handler to send nothing, like guest-shutdown on success. */
export const NO_REPLY: unique symbol = Symbol("NO_REPLY");

/** Return value = "return"; throw AgentFailure for an error reply; NO_REPLY for silence. */
export type CommandHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;

/** qga/qapi-schema.json order in 7.2: commands register in this order and guest-info lists them reversed. */
// biome-ignore format: one name per line would make this list 45 lines long
export const QGA_7_2_COMMANDS: readonly string[] = [
  "guest-sync-delimited", "guest-sync", "guest-ping", "guest-get-time", "guest-set-time", "guest-info",
  "guest-shutdown", "guest-file-open", "guest-file-close", "guest-file-read", "guest-file-write",
  "guest-file-seek", "guest-file-flush", "guest-fsfreeze-status", "guest-fsfreeze-freeze",
  "guest-fsfreeze-freeze-list", "guest-fsfreeze-thaw", "guest-fstrim", "guest-suspend-disk",
  "guest-suspend-ram", "guest-suspend-hybrid", "guest-network-get-interfaces", "guest-get-vcpus",
  "guest-set-vcpus", "guest-get-disks", "guest-get-fsinfo", "guest-set-user-password",
  "guest-get-memory-blocks", "guest-set-memory-blocks", "guest-get-memory-block-info",
  "guest-exec-status", "guest-exec", "guest-get-host-name", "guest-get-users", "guest-get-timezone",
  "guest-get-osinfo", "guest-get-devices", "guest-ssh-get-authorized-keys",
  "guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys", "guest-get-diskstats",
  "guest-get-cpustats",
];

/** Commands declared 'success-response': false: silent on success, an error line on failure. */
const NO_SUCCESS_RESPONSE = new Set([
  "guest-shutdown",
  "guest-suspend-disk",
  "guest-suspend-ram",
  "guest-suspend-hybrid",
]);

type Member = { name: string; type: "int" | "str"; optional?: boolean };
/** Argument schemas of the default commands, checked whoever handles them (overrides too). */
const ARGUMENTS: Record<string, readonly Member[]> = {
  "guest-sync": [{ name: "id", type: "int" }],
  "guest-sync-delimited": [{ name: "id", type: "int" }],
  "guest-shutdown": [{ name: "mode", type: "str", optional: true }],
  "guest-ping": [],
  "guest-info": [],
  "guest-get-time": [],
  "guest-get-host-name": [],
  "guest-get-osinfo": [],
  "guest-fsfreeze-status": [],
};

/** glib g_str_hash(): djb2 over signed chars; 0 and 1 are reserved, so they become 2. */
function gStrHash(key: string): number {
  let h = 5381;
  for (const b of Buffer.from(key, "utf8")) h = (Math.imul(h, 33) + (b > 127 ? b - 256 : b)) >>> 0;
  return Math.max(h, 2);
}

/**
 * The key "Parameter '%s' is unexpected" names: the visitor keeps unvisited keys in a GHashTable and
 * reports the first in table order. Exact for up to 7 keys (glib's first table: 8 slots, modulo 7,
 * quadratic probing); beyond that glib resizes and this only approximates which key is named.
 */
function firstUnexpected(keysInQdictOrder: string[], known: Set<string>): string | undefined {
  const n = keysInQdictOrder.length;
  let shift = 3; // glib grows a table once it is 15/16 full
  while (2 ** shift <= n + Math.floor(n / 16)) shift++;
  const size = 2 ** shift;
  const mod = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093][shift] ?? size - 1;
  const slots: (string | undefined)[] = new Array(size);
  for (const key of keysInQdictOrder) {
    let index = (Math.imul(gStrHash(key), 11) >>> 0) % mod;
    for (let step = 1; slots[index] !== undefined; step++) index = (index + step) & (size - 1);
    slots[index] = key;
  }
  return slots.find((k) => k !== undefined && !known.has(k));
}

function checkArguments(members: readonly Member[], args: QDict): string | undefined {
  for (const m of members) {
    const v = args.map.get(m.name);
    if (v === undefined) {
      if (m.optional) continue;
      return `Parameter '${m.name}' is missing`;
    }
    if (m.type === "int" ? !isInt64(v) : typeof v !== "string") {
      return `Invalid parameter type for '${m.name}', expected: ${m.type === "int" ? "integer" : "string"}`;
    }
  }
  const known = new Set(members.map((m) => m.name));
  const extra = firstUnexpected(
    qdictEntries(args).map(([k]) => k),
    known,
  );
  return extra === undefined ? undefined : `Parameter '${extra}' is unexpected`;
}

export interface AgentSetup {
  handlers: ReadonlyMap<string, CommandHandler>;
  disabled: ReadonlySet<string>;
  /** false = a pre-4.0 agent: "id" is an unknown member. */
  echoIds: boolean;
}

export interface Dispatched {
  /** null when the command sends nothing. */
  response: QDict | null;
  /** guest-sync-delimited succeeded: the line must start with 0xFF. */
  delimited: boolean;
}

export const errorResponse = (errorClass: string, desc: string): QDict =>
  QDict.of({ error: QDict.of({ class: errorClass, desc }) });

/** qmp_dispatch(): envelope checks in QDict order, lookup, argument checks, the handler. */
export async function dispatch(setup: AgentSetup, request: QValue): Promise<Dispatched> {
  if (!(request instanceof QDict)) {
    return { response: errorResponse("GenericError", "QMP input must be a JSON object"), delimited: false };
  }
  const id = setup.echoIds ? request.map.get("id") : undefined;
  const reply = (response: QDict | null, delimited = false): Dispatched => {
    if (response && id !== undefined) response.map.set("id", id);
    return { response, delimited };
  };
  const fail = (errorClass: string, desc: string) => reply(errorResponse(errorClass, desc));

  for (const [key, value] of qdictEntries(request)) {
    if (key === "execute" && typeof value !== "string") {
      return fail("GenericError", "QMP input member 'execute' must be a string");
    }
    if (key === "arguments" && !(value instanceof QDict)) {
      return fail("GenericError", "QMP input member 'arguments' must be an object");
    }
    if (key === "id" && !setup.echoIds) {
      // QEMU 2.x qmp_dispatch_check_obj() (QERR_QMP_EXTRA_MEMBER), before "id" was accepted
      return fail("GenericError", "QMP input object member 'id' is unexpected");
    }
    if (key !== "execute" && key !== "arguments" && key !== "id") {
      return fail("GenericError", `QMP input member '${key}' is unexpected`);
    }
  }
  const command = request.map.get("execute");
  if (typeof command !== "string") return fail("GenericError", "QMP input lacks member 'execute'");
  const handler = setup.handlers.get(command);
  if (setup.disabled.has(command)) return fail("CommandNotFound", `Command ${command} has been disabled`);
  if (!handler) return fail("CommandNotFound", `The command ${command} has not been found`);

  const argsValue = request.map.get("arguments");
  const args = argsValue instanceof QDict ? argsValue : new QDict();
  const members = ARGUMENTS[command];
  const argError = members && checkArguments(members, args);
  if (argError) return fail("GenericError", argError);

  try {
    const result = await handler(toJs(args) as Record<string, unknown>);
    if (result === NO_REPLY) return reply(null);
    // A command without 'returns' answers {} (qmp_dispatch supplies the empty object).
    const value = result === undefined ? new QDict() : fromJs(result);
    return reply(QDict.of({ return: value }), command === "guest-sync-delimited");
  } catch (err) {
    if (err instanceof AgentFailure) return fail(err.errorClass, err.desc);
    return fail("GenericError", `fake agent handler for ${command} failed: ${String(err)}`);
  }
}

/** The guest-info return value for these commands, in the real agent's order. */
export function guestInfo(version: string, setup: AgentSetup): unknown {
  const names = [...new Set([...setup.handlers.keys(), ...setup.disabled])];
  const rank = (n: string) => {
    const i = QGA_7_2_COMMANDS.indexOf(n);
    return i < 0 ? QGA_7_2_COMMANDS.length : i;
  };
  names.sort((a, b) => rank(a) - rank(b)); // stable: unknown names keep registration order
  return {
    version,
    supported_commands: names.reverse().map((name) => ({
      enabled: !setup.disabled.has(name),
      name,
      "success-response": !NO_SUCCESS_RESPONSE.has(name),
    })),
  };
}

/** The default commands; guest-info is added by the agent because it needs the whole setup. */
export const DEFAULT_COMMANDS: Record<string, CommandHandler> = {
  "guest-sync": (args) => args.id,
  "guest-sync-delimited": (args) => args.id,
  "guest-ping": () => undefined,
  "guest-get-host-name": () => ({ "host-name": "fake-guest" }),
  "guest-get-osinfo": () => ({
    name: "Debian GNU/Linux",
    "kernel-release": "6.1.0-18-amd64",
    version: "12 (bookworm)",
    "pretty-name": "Debian GNU/Linux 12 (bookworm)",
    "version-id": "12",
    "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    machine: "x86_64",
    id: "debian",
  }),
  "guest-get-time": () => BigInt(Date.now()) * 1_000_000n, // ns as an exact int64
  "guest-fsfreeze-status": () => "thawed",
  "guest-shutdown": (args) => {
    if (args.mode !== undefined && !["powerdown", "halt", "reboot"].includes(String(args.mode))) {
      // sic: the real message lacks the closing parenthesis
      throw new AgentFailure("GenericError", "mode is invalid (valid values are: halt|powerdown|reboot");
    }
    return NO_REPLY;
  },
};
