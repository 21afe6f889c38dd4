import { parseArgs } from "node:util";
import {
  COMMANDS,
  type CommandName,
  commandsWith,
  isCommand,
  OPTIONS,
  type OptionName,
} from "./cli-commands.js";
import { brokerUrlProblem } from "./config/broker-url.js";
import { nearMatch } from "./text/near-match.js";

/** A command line that cannot be run as written: exit 2, with what to type instead. */
export class UsageError extends Error {
  readonly code = "usage";
  constructor(
    message: string,
    /** The command whose usage line goes with the message, when it is known. */
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export interface CommandLine {
  readonly command: CommandName;
  readonly operands: readonly string[];
  readonly values: Values;
  readonly help: boolean;
  readonly version: boolean;
}

type Values = ReturnType<typeof strictParse>["values"];
type Token = NonNullable<ReturnType<typeof parseArgs>["tokens"]>[number];

/**
 * The command line, checked against the command table before anything runs: an unknown command or
 * option, an option the command does not take, too many or too few operands, a --url that is no broker
 * URL. `npmScript` is the npm script that started the process (npm_lifecycle_event), for the hint that
 * `npm start -- check-config` is `qga-mqtt run check-config`.
 */
export function parseCommandLine(argv: readonly string[], npmScript?: string): CommandLine {
  const loose = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const given = loose.tokens.flatMap((t) => (t.kind === "option" ? [t] : []));
  for (const token of given) {
    if (!Object.hasOwn(OPTIONS, token.name))
      throw unknownOption(token.rawName, guessCommand(loose.positionals));
  }
  const { values, positionals } = strictParse(argv, guessCommand(loose.positionals));
  const help = values.help === true;
  const version = values.version === true;
  const [first, ...operands] = positionals;
  const command = first ?? "run";
  if (!isCommand(command)) {
    const near = nearMatch(command, Object.keys(COMMANDS));
    throw new UsageError(`unknown command "${command}"${near ? `: did you mean ${near}?` : ""}`);
  }
  if (help || version) return { command, operands, values, help, version };
  const spec = COMMANDS[command];
  for (const token of given) {
    const name = token.name as OptionName;
    if (name === "help" || name === "version" || (spec.options as readonly OptionName[]).includes(name))
      continue;
    throw new UsageError(notAnOptionOf(token.rawName, name, command), command);
  }
  const [min, max] = spec.operands;
  if (operands.length > max) {
    const extra = operands[max] ?? "";
    const hint = isCommand(extra) ? `\n${commandHint(argv, loose.tokens, extra, npmScript)}` : "";
    throw new UsageError(`unexpected operand "${extra}" for qga-mqtt ${command}${hint}`, command);
  }
  if (operands.length < min) {
    throw new UsageError(`qga-mqtt ${command} needs ${min} operands, got ${operands.length}`, command);
  }
  if (values.url !== undefined) {
    const problem = brokerUrlProblem(values.url);
    if (problem) throw new UsageError(`--url: ${problem}`, command);
  }
  return { command, operands, values, help, version };
}

function strictParse(argv: readonly string[], command: CommandName | undefined) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // node's parser: "Option '-c, --config <value>' argument missing" and the like; the code says which.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const option = /--(\w+)/.exec((error as Error).message)?.[1] as OptionName | undefined;
      const spec = option ? OPTIONS[option] : undefined;
      if (/ambiguous/.test((error as Error).message)) {
        throw new UsageError(`--${option}'s value starts with "-": write it --${option}=VALUE`, command);
      }
      if (spec && "value" in spec)
        throw new UsageError(`--${option} needs a value: --${option} ${spec.value}`, command);
      throw new UsageError(`${option ? `--${option}` : "this option"} takes no value`, command);
    }
    throw new UsageError((error as Error).message, command);
  }
}

function unknownOption(raw: string, command: CommandName | undefined): UsageError {
  const names = Object.keys(OPTIONS).map((name) => `--${name}`);
  const near = raw.startsWith("--") ? nearMatch(raw, names) : undefined;
  return new UsageError(`unknown option ${raw}${near ? ` (did you mean ${near}?)` : ""}`, command);
}

function notAnOptionOf(raw: string, name: OptionName, command: CommandName): string {
  const takers = commandsWith(name);
  const where = takers.length > 0 ? `; it is one of ${takers.join(", ")}` : "";
  // The worker's broker is a setting: that it ignored --url would be found out only at the broker.
  const setting =
    name === "url" ? " (the worker's broker is mqtt.url in the configuration, or QGA_MQTT_MQTT_URL)" : "";
  return `${raw} is not an option of ${command}${where}${setting}`;
}

/** The command a command line is for, as far as it can be told before it is checked. */
function guessCommand(positionals: readonly string[]): CommandName | undefined {
  const first = positionals[0] ?? "run";
  return isCommand(first) ? first : undefined;
}

/**
 * `qga-mqtt run check-config --config FILE`: what was typed, as the command it was meant to be. Under
 * `npm start` (which always runs `qga-mqtt run`), with npx, the README's form.
 */
function commandHint(
  argv: readonly string[],
  tokens: readonly Token[],
  meant: CommandName,
  npmScript: string | undefined,
): string {
  const run = tokens.find((t) => t.kind === "positional");
  const rest = argv.filter((_, i) => i !== run?.index).map(shellWord);
  const prefix = npmScript === "start" ? "npx qga-mqtt" : "qga-mqtt";
  const why = npmScript === "start" ? `"npm start" always runs "qga-mqtt run"; ` : "";
  return `${why}to run ${meant}: ${prefix} ${rest.join(" ")}`;
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
