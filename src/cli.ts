import { parseArgs } from "node:util";
import { z } from "zod";
import { runCall, runList, runWatch } from "./caller/commands.js";
import { EXIT } from "./caller/render.js";
import { parseTarget } from "./caller/target.js";
import { envSettings } from "./config/env.js";
import { ConfigError, loadConfig } from "./config/load.js";
import { Config } from "./config/schema.js";
import { createLogger } from "./log.js";
import { PublishRefusedError } from "./mqtt/publish-refusal.js";
import { redactUrl } from "./net/redact-url.js";
import { packageVersion } from "./version.js";

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress lines go there). */
  readonly stderrIsTty?: boolean;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  readonly stopSignal: Promise<string>;
}

const USAGE = `qga-mqtt: the QEMU guest agents of this host's VMs, over MQTT

Usage:
  qga-mqtt run [--config FILE]            run the worker (the default command)
  qga-mqtt check-config [--config FILE]   validate the configuration and list the VMs it would serve
  qga-mqtt call <vm|group:NAME|all> <command> [--args JSON] [--timeout S] [--json]
                                          send one request, print every reply; exit 0 all ok, 1 some
                                          failed, 3 some expected VM did not reply, 4 no broker
  qga-mqtt list [--json]                  the fleet, from the workers' retained info
  qga-mqtt watch [vm] [--json]            status, availability and events as they come (Ctrl-C stops)
  qga-mqtt schema                         print the configuration's JSON Schema (for editors)
  qga-mqtt env                            list the QGA_MQTT_* environment variables
  qga-mqtt --version | --help

The configuration file is --config, else $QGA_MQTT_CONFIG, else none (defaults + environment).
call, list and watch use its broker settings (mqtt.*); --url overrides mqtt.url.
`;

/** Runs one CLI command; resolves with the process exit code. */
export async function runCli(io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(io.argv);
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  if (values.version) {
    io.stdout(`${packageVersion()}\n`);
    return 0;
  }
  const command = positionals[0] ?? "run";
  const file = values.config ?? (io.env.QGA_MQTT_CONFIG || undefined);
  try {
    switch (command) {
      case "run":
        return await run(file, io);
      case "check-config":
        return await checkConfig(file, io);
      case "call":
      case "list":
      case "watch":
        return await fleetCommand(command, positionals.slice(1), values, file, io);
      case "schema":
        io.stdout(
          `${JSON.stringify(z.toJSONSchema(Config, { io: "input", unrepresentable: "any" }), null, 2)}\n`,
        );
        return 0;
      case "env":
        for (const s of envSettings()) io.stdout(`${s.variable}  (${s.path.join(".")}, ${s.type})\n`);
        return 0;
      default:
        io.stderr(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      args: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      url: { type: "string" },
      version: { type: "boolean", short: "V" },
    },
  });
}

async function run(file: string | undefined, io: CliIo): Promise<number> {
  const loaded = await loadConfig(file, io.env);
  const log = createLogger(loaded.config.log.level);
  log.info(
    { version: packageVersion(), config: loaded.file ?? "(none)", fromEnv: loaded.fromEnv },
    "qga-mqtt starting",
  );
  // Loaded here, not at the top: `call`, `list` and `watch` start in a fraction of the time without the
  // worker's modules (the broker, metrics, the command catalogue's schemas).
  const { App } = await import("./app.js");
  const app = new App({ loaded, log, version: packageVersion(), env: io.env });
  try {
    await app.start();
  } catch (error) {
    log.fatal({ err: error }, "could not start");
    await app.stop(0).catch(() => {});
    if (error instanceof ConfigError) throw error;
    return 1;
  }
  const signal = await io.stopSignal;
  log.info({ signal }, "stopping: finishing requests in flight");
  await app.stop();
  log.info("stopped");
  return 0;
}

async function checkConfig(file: string | undefined, io: CliIo): Promise<number> {
  const { config } = await loadConfig(file, io.env);
  const [{ Policy }, { resolveSources }, { scan }, { restrictionFor }, report] = await Promise.all([
    import("./commands/policy.js"),
    import("./app.js"),
    import("./fleet/scan.js"),
    import("./commands/restrictions.js"),
    import("./commands/restriction-report.js"),
  ]);
  const policy = new Policy(config.policy);
  const { sources, libvirt } = resolveSources(config);
  const found = await scan(sources).finally(() => libvirt?.close());
  const problems = [...policy.problems, ...found.problems];
  io.stdout(`configuration: ${file ?? "(none: defaults and environment)"}\n`);
  // Only the URL of the mqtt settings is shown, without its password; the other secrets never are.
  const broker = config.mqtt.url === undefined ? "(local or embedded)" : redactUrl(config.mqtt.url);
  io.stdout(`worker ${config.worker.id}, broker ${broker}, base topic ${config.mqtt.baseTopic}\n`);
  io.stdout(`VMs (${found.vms.length}):\n`);
  const warnings = new Set<string>();
  for (const vm of found.vms) {
    const connection = vm.connection === "hold" ? "hold" : `linger ${vm.connection.linger} ms`;
    const groups = vm.groups.length > 0 ? vm.groups.join(",") : "-";
    io.stdout(`  ${vm.name}\t${vm.address}\tgroups: ${groups}\t${connection}\tfrom ${vm.source}\n`);
    io.stdout(`    allowed: ${[...policy.allowedFor(vm.name, vm.groups)].sort().join(" ")}\n`);
    const restriction = restrictionFor(config.restrictions, vm.name, vm.groups);
    for (const line of report.describeRestriction(restriction)) io.stdout(`    ${line}\n`);
    for (const warning of report.restrictionWarnings(restriction)) warnings.add(warning);
  }
  if (warnings.size > 0) io.stderr(`warnings:\n${[...warnings].map((w) => `  ⚠ ${w}`).join("\n")}\n`);
  if (problems.length > 0) {
    io.stderr(`problems:\n${problems.map((p) => `  ✖ ${p}`).join("\n")}\n`);
    return 1;
  }
  io.stdout("configuration is valid\n");
  return 0;
}

type Values = ReturnType<typeof parse>["values"];

/** call, list and watch: clients of the fleet, with the configuration's broker settings. */
async function fleetCommand(
  command: string,
  operands: string[],
  values: Values,
  file: string | undefined,
  io: CliIo,
): Promise<number> {
  const env = values.url ? { ...io.env, QGA_MQTT_MQTT_URL: values.url } : io.env;
  const { config } = await loadConfig(file, env);
  const log = createLogger(io.env.QGA_MQTT_LOG_LEVEL ?? "warn");
  const json = values.json ?? false;
  const out = { stdout: io.stdout, stderr: io.stderr, progress: io.stderrIsTty === true };
  try {
    if (command === "list") return await runList(config, json, out, log);
    if (command === "watch") return await runWatch(config, operands[0], json, out, log, io.stopSignal);
    const [targetText, name] = operands;
    if (!targetText || !name) {
      io.stderr(`usage: qga-mqtt call <vm|group:NAME|all> <command> [--args JSON] [--timeout S] [--json]\n`);
      return EXIT.usage;
    }
    const args = values.args === undefined ? undefined : parseArgsJson(values.args);
    const timeoutSeconds =
      values.timeout === undefined ? config.limits.defaultTimeoutSeconds : Number(values.timeout);
    if (!(timeoutSeconds > 0))
      throw new UsageError(`--timeout must be a positive number of seconds, not "${values.timeout}"`);
    return await runCall(
      config,
      { target: parseTarget(targetText), command: name, ...(args ? { args } : {}), timeoutSeconds },
      json,
      out,
      log,
    );
  } catch (error) {
    if (error instanceof UsageError || error instanceof TypeError) {
      io.stderr(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) throw error;
    // A refused request did reach the broker: its own words say what to change.
    if (error instanceof PublishRefusedError) io.stderr(`${error.message}\n`);
    else io.stderr(`cannot reach the MQTT broker: ${(error as Error).message}\n`);
    return EXIT.broker;
  }
}

class UsageError extends Error {}

function parseArgsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--args must be a JSON object: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new UsageError("--args must be a JSON object");
  return value as Record<string, unknown>;
}
