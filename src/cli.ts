import pino from "pino";
import { runCall, runList, runWatch } from "./caller/commands.js";
import { EXIT } from "./caller/render.js";
import { parseTarget } from "./caller/target.js";
import { type CommandLine, parseCommandLine, UsageError } from "./cli-args.js";
import { COMMANDS, helpText } from "./cli-commands.js";
import { envSettings } from "./config/env.js";
import { configJsonSchema } from "./config/json-schema.js";
import { ConfigError, loadConfig } from "./config/load.js";
import { createLogger } from "./log.js";
import { chooseLogFormat } from "./log-format.js";
import { PublishRefusedError } from "./mqtt/publish-refusal.js";
import { packageVersion } from "./version.js";

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress lines go there). */
  readonly stderrIsTty?: boolean;
  /** Whether stdout is a terminal (the log is then pretty unless log.format says otherwise). */
  readonly stdoutIsTty?: boolean;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  readonly stopSignal: Promise<string>;
}

/** Runs one CLI command; resolves with the process exit code. */
export async function runCli(io: CliIo): Promise<number> {
  let line: CommandLine;
  try {
    line = parseCommandLine(io.argv, io.env.npm_lifecycle_event);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(usageErrorText(error));
    return EXIT.usage;
  }
  const { command, operands, values } = line;
  if (line.help) {
    io.stdout(helpText());
    return 0;
  }
  if (line.version) {
    io.stdout(`${packageVersion()}\n`);
    return 0;
  }
  const file = values.config ?? (io.env.QGA_MQTT_CONFIG || undefined);
  try {
    switch (command) {
      case "run":
        return await run(file, io);
      case "check-config":
        return await checkConfig(file, io);
      case "call":
      case "cp":
      case "list":
      case "watch":
        return await fleetCommand(command, operands, values, file, io);
      case "dashboard":
        return await dashboard(values, file, io);
      case "schema":
        io.stdout(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
        return 0;
      case "env":
        for (const s of envSettings()) io.stdout(`${s.variable}  (${s.path.join(".")}, ${s.type})\n`);
        return 0;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 1;
    }
    if (error instanceof UsageError) {
      io.stderr(usageErrorText(error));
      return EXIT.usage;
    }
    throw error;
  }
}

/** The problem, the command's usage line, and where the rest is: not the whole help, which would bury it. */
function usageErrorText(error: UsageError): string {
  const usage = error.command ? `usage: ${COMMANDS[error.command].usage}\n` : "";
  return `qga-mqtt: ${error.message}\n${usage}(qga-mqtt --help lists every command and option)\n`;
}

async function run(file: string | undefined, io: CliIo): Promise<number> {
  const loaded = await loadConfig(file, io.env);
  const { level, format } = loaded.config.log;
  const log = createLogger(level, undefined, chooseLogFormat(format, io.stdoutIsTty === true));
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
  const [
    { Policy },
    { resolveSources, sourcesConfigured },
    { scan },
    { restrictionFor },
    report,
    sourcesReport,
  ] = await Promise.all([
    import("./commands/policy.js"),
    import("./fleet/configured-sources.js"),
    import("./fleet/scan.js"),
    import("./commands/restrictions.js"),
    import("./commands/restriction-report.js"),
    import("./sources-report.js"),
  ]);
  const policy = new Policy(config.policy);
  const { sources, libvirt } = resolveSources(config);
  const found = await scan(sources).finally(() => libvirt?.close());
  const problems = [...policy.problems, ...found.problems];
  io.stdout(`configuration: ${file ?? "(none: defaults and environment)"}\n`);
  // Only the URL of the mqtt settings is shown, without its password; the other secrets never are.
  const broker = sourcesReport.describeBroker(config);
  io.stdout(`worker ${config.worker.id}, base topic ${config.mqtt.baseTopic}\nbroker ${broker}\n`);
  // What run would watch, so that "VMs (0)" on a host whose VMs are not up yet is not read as "nothing".
  const configured = sourcesConfigured(config);
  for (const line of sourcesReport.describeSources(sources, configured, config.discovery.rescanSeconds)) {
    io.stdout(`${line}\n`);
  }
  io.stdout(
    `VMs found now (${found.vms.length}):${found.vms.length === 0 ? " none yet; run keeps watching the sources above" : ""}\n`,
  );
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

/** call, cp, list and watch: clients of the fleet, with the configuration's broker settings. */
async function fleetCommand(
  command: string,
  operands: readonly string[],
  values: CommandLine["values"],
  file: string | undefined,
  io: CliIo,
): Promise<number> {
  const env = values.url ? { ...io.env, QGA_MQTT_MQTT_URL: values.url } : io.env;
  const { config } = await loadConfig(file, env);
  // The fleet commands' stdout is their output (a table, JSON lines for scripts): their log goes to stderr.
  const format = chooseLogFormat(config.log.format, io.stderrIsTty === true);
  const stderr = pino.destination({ fd: 2, sync: true });
  const log = createLogger(io.env.QGA_MQTT_LOG_LEVEL ?? "warn", stderr, format);
  const json = values.json ?? false;
  const out = { stdout: io.stdout, stderr: io.stderr, progress: io.stderrIsTty === true };
  try {
    if (command === "list") return await runList(config, json, out, log);
    if (command === "watch") return await runWatch(config, operands[0], json, out, log, io.stopSignal);
    const timeoutSeconds =
      values.timeout === undefined ? config.limits.defaultTimeoutSeconds : Number(values.timeout);
    if (!(timeoutSeconds > 0))
      throw new UsageError(
        `--timeout must be a positive number of seconds, not "${values.timeout}"`,
        command === "cp" ? "cp" : "call",
      );
    // Two operands: parseCommandLine counted them.
    const [first = "", second = ""] = operands;
    if (command === "cp") {
      const [{ planCopy }, { runCp }] = await Promise.all([
        import("./caller/cp-args.js"),
        import("./caller/cp.js"),
      ]);
      const plan = await planCopy(first, second, values.mode, values["in-place"] === true);
      return await runCp(config, { plan, timeoutSeconds }, json, out, log);
    }
    const [targetText, name] = [first, second];
    const args = values.args === undefined ? undefined : parseArgsJson(values.args);
    return await runCall(
      config,
      { target: parseTarget(targetText), command: name, ...(args ? { args } : {}), timeoutSeconds },
      json,
      out,
      log,
    );
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(usageErrorText(error));
      return EXIT.usage;
    }
    // parseTarget's refusal of a target that is no VM, group or `all`.
    if (error instanceof TypeError) {
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

/** `qga-mqtt dashboard`: its options checked first (exit 2), then the broker of the configuration. */
async function dashboard(
  values: CommandLine["values"],
  file: string | undefined,
  io: CliIo,
): Promise<number> {
  const { planDashboard, runDashboard } = await import("./dashboard/command.js");
  const plan = planDashboard(values);
  const env = values.url ? { ...io.env, QGA_MQTT_MQTT_URL: values.url } : io.env;
  const { config } = await loadConfig(file, env);
  const format = chooseLogFormat(config.log.format, io.stderrIsTty === true);
  const log = createLogger(config.log.level, pino.destination({ fd: 2, sync: true }), format);
  return runDashboard(plan, config, packageVersion(), { stderr: io.stderr, stopSignal: io.stopSignal }, log);
}

function parseArgsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--args must be a JSON object: ${(error as Error).message}`, "call");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new UsageError("--args must be a JSON object", "call");
  return value as Record<string, unknown>;
}
