import { configJsonSchema, type JsonSchemaNode } from "./json-schema.js";

/**
 * Environment overrides, derived from the schema so they cannot drift from it: every scalar setting has
 * one variable, `QGA_MQTT_` + its path in UPPER_SNAKE_CASE (`mqtt.url` → `QGA_MQTT_MQTT_URL`,
 * `mqtt.tls.keyPassphraseFile` → `QGA_MQTT_MQTT_TLS_KEY_PASSPHRASE_FILE`). Lists (vms, policy) live in
 * the file only.
 */
export const ENV_PREFIX = "QGA_MQTT_";

type Scalar = "string" | "number" | "boolean";

export interface EnvSetting {
  readonly variable: string;
  readonly path: readonly string[];
  readonly type: Scalar;
  readonly description: string | undefined;
}

function scalarType(node: JsonSchemaNode): Scalar | undefined {
  const types = [node.type, ...(node.anyOf ?? []).map((n) => n.type ?? typeof n.const)].flat();
  if (types.includes("object") || types.includes("array")) return undefined;
  if (types.includes("boolean")) return "boolean";
  if (types.includes("number") || types.includes("integer")) return "number";
  if (types.includes("string") || node.enum) return "string";
  return undefined;
}

function toSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

function collect(node: JsonSchemaNode, path: string[], out: EnvSetting[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = [...path, key];
    if (child.properties) {
      collect(child, childPath, out);
      continue;
    }
    const type = scalarType(child);
    if (!type) continue;
    out.push({
      variable: ENV_PREFIX + childPath.map(toSnake).join("_"),
      path: childPath,
      type,
      description: child.description,
    });
  }
}

/** Every environment variable the worker reads for settings, from the schema. */
export function envSettings(): EnvSetting[] {
  const out: EnvSetting[] = [];
  collect(configJsonSchema(), [], out);
  return out;
}

/**
 * Sets each overridden value at its path in `raw` (the parsed YAML, not yet validated). Values are
 * converted by the setting's type; one that does not convert is left as text so validation names it.
 * Returns the settings applied (a problem with one names its variable).
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvSetting[] {
  const applied: EnvSetting[] = [];
  for (const setting of envSettings()) {
    const text = env[setting.variable];
    if (text === undefined || text === "") continue;
    let target = raw;
    for (const key of setting.path.slice(0, -1)) {
      const next = target[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[setting.path.at(-1)!] = convert(text, setting.type);
    applied.push(setting);
  }
  return applied;
}

function convert(text: string, type: Scalar): unknown {
  if (type === "number") return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  if (type === "boolean") return text === "true" ? true : text === "false" ? false : text;
  return text;
}
