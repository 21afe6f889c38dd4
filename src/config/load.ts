import { readFile } from "node:fs/promises";
import { applyEnv } from "./env.js";
import { describeIssues, type Origins, pathText } from "./problems.js";
import { Config } from "./schema.js";
import { YamlFile } from "./yaml-positions.js";

/** Why the configuration cannot be used: every problem, by path, in words. */
export class ConfigError extends Error {
  readonly code = "invalid_config";
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** The file read, or undefined when only defaults and environment were used. */
  readonly file: string | undefined;
  /** The environment variables that overrode a setting (names only: values may be secrets). */
  readonly fromEnv: readonly string[];
}

/**
 * The file (YAML or JSON; optional), then environment overrides, then the schema, then secrets read from
 * their files. Also checks what the schema cannot see alone: names unique across the whole configuration.
 */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const yaml = file ? await readConfigFile(file) : undefined;
  const raw = file && yaml ? topLevel(yaml.value, file) : {};
  const fromEnv = applyEnv(raw, env);
  const source = [file ?? "defaults", ...(fromEnv.length > 0 ? ["environment"] : [])].join(" + ");
  const origins: Origins = {
    lineOf: (path) => yaml?.lineOf(path),
    variableOf: (path) => fromEnv.find((s) => pathText(s.path) === pathText(path))?.variable,
  };
  const parsed = Config.safeParse(raw);
  if (!parsed.success) {
    const problems = describeIssues(parsed.error.issues, origins);
    throw new ConfigError(`the configuration (${source}) is not valid:\n${problems.join("\n")}`, source);
  }
  const config = parsed.data;
  const duplicates = duplicateVmNames(config, origins);
  if (duplicates.length > 0) {
    throw new ConfigError(`the configuration (${source}) is not valid:\n${duplicates.join("\n")}`, source);
  }
  return { config: await readSecrets(config, source), file, fromEnv: fromEnv.map((s) => s.variable) };
}

async function readConfigFile(file: string): Promise<YamlFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read the configuration file ${file}: ${(error as Error).message}`, file);
  }
  try {
    return YamlFile.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid YAML: ${(error as Error).message}`, file);
  }
}

/** The file's settings: a mapping, or nothing at all (an empty file, or only comments). */
function topLevel(value: unknown, file: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${file} must hold a mapping of settings at the top level`, file);
  }
  return value as Record<string, unknown>;
}

function duplicateVmNames(config: Config, origins: Origins): string[] {
  const seen = new Map<string, number>();
  const problems: string[] = [];
  config.vms.forEach((vm, index) => {
    const first = seen.get(vm.name);
    if (first === undefined) {
      seen.set(vm.name, index);
      return;
    }
    const lines = [first, index].map((i) => origins.lineOf(["vms", i, "name"]));
    const where = lines.every((l) => l !== undefined) ? ` (lines ${lines.join(" and ")})` : "";
    problems.push(
      `✖ the VM name "${vm.name}" is used twice\n  → at vms[${first}].name and vms[${index}].name${where}`,
    );
  });
  return problems;
}

/** Secrets may come from files (Docker and systemd credentials); the file wins over nothing, not over a value. */
async function readSecrets(config: Config, source: string): Promise<Config> {
  const mqtt = { ...config.mqtt, tls: { ...config.mqtt.tls } };
  if (mqtt.password === undefined && mqtt.passwordFile) {
    mqtt.password = await readSecret(mqtt.passwordFile, "mqtt.passwordFile", source);
  }
  if (mqtt.tls.keyPassphrase === undefined && mqtt.tls.keyPassphraseFile) {
    mqtt.tls.keyPassphrase = await readSecret(
      mqtt.tls.keyPassphraseFile,
      "mqtt.tls.keyPassphraseFile",
      source,
    );
  }
  return { ...config, mqtt };
}

async function readSecret(file: string, setting: string, source: string): Promise<string> {
  try {
    // A trailing newline is an editor's, not part of the secret.
    return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  } catch (error) {
    throw new ConfigError(
      `cannot read ${setting} (${file}): ${(error as NodeJS.ErrnoException).code ?? error}`,
      source,
    );
  }
}
