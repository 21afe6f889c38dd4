/**
 * The CLI's commands: what each takes (operands, options) and how it is written. One table, so that the
 * help, the usage line printed with a usage error and the checks of the command line cannot disagree.
 */

/** The options of the commands (besides --help and --version, which every command takes). */
export const OPTIONS = {
  config: { type: "string", short: "c", value: "FILE" },
  url: { type: "string", value: "URL" },
  args: { type: "string", value: "JSON" },
  timeout: { type: "string", value: "S" },
  mode: { type: "string", value: "MODE" },
  "in-place": { type: "boolean" },
  json: { type: "boolean" },
  listen: { type: "string", value: "HOST:PORT" },
  "broker-ws": { type: "string", value: "URL" },
  "tls-cert": { type: "string", value: "FILE" },
  "tls-key": { type: "string", value: "FILE" },
  "insecure-listen": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;
export type OptionName = keyof typeof OPTIONS;

export interface CommandSpec {
  /** How it is written, e.g. `qga-mqtt watch [vm] [--json]`. */
  readonly usage: string;
  /** What it does, one or more lines for the help. */
  readonly summary: readonly string[];
  /** How many operands it takes, at least and at most. */
  readonly operands: readonly [number, number];
  readonly options: readonly OptionName[];
}

const FLEET_OPTIONS = ["config", "url", "json"] as const;

export const COMMANDS = {
  run: {
    usage: "qga-mqtt run [--config FILE]",
    summary: ["run the worker (the default command)"],
    operands: [0, 0],
    options: ["config"],
  },
  "check-config": {
    usage: "qga-mqtt check-config [--config FILE]",
    summary: ["validate the configuration, show what run would watch and serve"],
    operands: [0, 0],
    options: ["config"],
  },
  call: {
    usage: "qga-mqtt call <vm|group:NAME|all> <command> [--args JSON] [--timeout S] [--json]",
    summary: [
      "send one request, print every reply; exit 0 all ok, 1 some",
      "failed, 3 some expected VM did not reply, 4 no broker",
    ],
    operands: [2, 2],
    options: [...FLEET_OPTIONS, "args", "timeout"],
  },
  cp: {
    usage: "qga-mqtt cp SRC DST [--mode MODE] [--in-place] [--timeout S] [--json]",
    summary: [
      "copy a file to a VM, a group:NAME or all (DST VM:/path), or",
      "from one VM (SRC VM:/path) to a file or folder; resumable,",
      "checksummed; exit codes as call's",
    ],
    operands: [2, 2],
    options: [...FLEET_OPTIONS, "mode", "in-place", "timeout"],
  },
  list: {
    usage: "qga-mqtt list [--json]",
    summary: ["the fleet, from the workers' retained info"],
    operands: [0, 0],
    options: FLEET_OPTIONS,
  },
  watch: {
    usage: "qga-mqtt watch [vm] [--json]",
    summary: ["status, availability and events as they come (Ctrl-C stops)"],
    operands: [0, 1],
    options: FLEET_OPTIONS,
  },
  dashboard: {
    usage:
      "qga-mqtt dashboard [--listen HOST:PORT] [--broker-ws URL] [--tls-cert FILE --tls-key FILE] [--insecure-listen]",
    summary: [
      "serve the fleet console to a browser (default 127.0.0.1:8088);",
      "the browser logs in to the broker with its own user",
    ],
    operands: [0, 0],
    options: ["config", "url", "listen", "broker-ws", "tls-cert", "tls-key", "insecure-listen"],
  },
  schema: {
    usage: "qga-mqtt schema",
    summary: ["print the configuration's JSON Schema (for editors)"],
    operands: [0, 0],
    options: [],
  },
  env: {
    usage: "qga-mqtt env",
    summary: ["list the QGA_MQTT_* environment variables"],
    operands: [0, 0],
    options: [],
  },
} as const satisfies Record<string, CommandSpec>;
export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** The commands that take an option, for "--url is not an option of run; it is one of call, list, watch". */
export function commandsWith(option: OptionName): CommandName[] {
  return (Object.keys(COMMANDS) as CommandName[]).filter((name) =>
    (COMMANDS[name].options as readonly OptionName[]).includes(option),
  );
}

const COLUMN = 42;

/** The whole help: every command with its summary, then where the configuration comes from. */
export function helpText(): string {
  const lines: string[] = [];
  for (const spec of Object.values(COMMANDS) as CommandSpec[]) {
    const [first = "", ...rest] = spec.summary;
    const head = `  ${spec.usage}`;
    if (head.length < COLUMN) lines.push(`${head.padEnd(COLUMN)}${first}`);
    else lines.push(head, `${" ".repeat(COLUMN)}${first}`);
    for (const more of rest) lines.push(`${" ".repeat(COLUMN)}${more}`);
  }
  return `qga-mqtt: the QEMU guest agents of this host's VMs, over MQTT

Usage:
${lines.join("\n")}
  qga-mqtt --version | --help

The configuration file is --config, else $QGA_MQTT_CONFIG, else none (defaults + environment).
call, cp, list, watch and dashboard use its broker settings (mqtt.*); --url URL overrides mqtt.url.
`;
}
