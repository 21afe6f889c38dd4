/*
 * The Run page's arguments form as data: which controls a command's JSON Schema (ui/src/args-catalogue.ts)
 * asks for, what the controls hold, and the arguments they make. No DOM here, so the unit tests run it.
 */

type Scalar = string | number | boolean;

/** The part of JSON Schema z.toJSONSchema writes for the catalogue's arguments. */
export interface JsonSchema {
  readonly type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly items?: JsonSchema;
  readonly enum?: readonly Scalar[];
  readonly const?: Scalar;
  readonly anyOf?: readonly JsonSchema[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** One command as scripts/gen-args-catalogue.ts writes it. */
export interface CatalogueEntry {
  readonly description: string;
  /** The catalogue's `secretArgs`: some member may be a password or a key. */
  readonly secret: boolean;
  /** null when the arguments have no JSON Schema; `noForm` says why. */
  readonly schema: JsonSchema | null;
  readonly noForm?: string;
}

interface Common {
  readonly name: string;
  readonly required: boolean;
}

export type Field =
  | (Common & {
      readonly kind: "text";
      readonly secret: boolean;
      readonly minLength?: number;
      readonly maxLength?: number;
    })
  | (Common & {
      readonly kind: "number";
      readonly integer: boolean;
      readonly min?: number;
      readonly max?: number;
      /** The bounds themselves are refused (int64's 2^63, which no double below it reaches). */
      readonly exclusiveMin?: boolean;
      readonly exclusiveMax?: boolean;
    })
  | (Common & { readonly kind: "boolean" })
  /** A fixed set of values, possibly of several types (QAPI alternates such as capture-output). */
  | (Common & { readonly kind: "choice"; readonly options: readonly Scalar[] })
  | (Common & { readonly kind: "list"; readonly item: Field })
  | (Common & { readonly kind: "object"; readonly fields: readonly Field[] });

/** What the controls hold: text as typed (numbers too, so a half-typed one stays), checkboxes, lists. */
export type Value = string | boolean | readonly Value[] | ValueMap;
export interface ValueMap {
  readonly [member: string]: Value;
}

export type FormModel = { readonly fields: readonly Field[] } | { readonly unsupported: string };

class Unsupported extends Error {}

/**
 * The form for a command's arguments, or why it has none (the page then offers the JSON box alone).
 * In a command whose arguments may be secrets every text control is masked: the catalogue marks the
 * command, not the member, so the page cannot tell the password from the user name.
 */
export function formOf(entry: CatalogueEntry): FormModel {
  if (entry.schema === null) return { unsupported: entry.noForm ?? "its arguments have no JSON Schema" };
  try {
    return { fields: objectFields(entry.schema, entry.secret, "arguments") };
  } catch (error) {
    if (error instanceof Unsupported) return { unsupported: error.message };
    throw error;
  }
}

function objectFields(schema: JsonSchema, secret: boolean, where: string): Field[] {
  if (schema.type !== "object") throw new Unsupported(`${where} is not an object`);
  // Open objects take members the form cannot name: only JSON can say them.
  if (schema.additionalProperties !== false) throw new Unsupported(`${where} takes members of any name`);
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, member]) =>
    fieldOf(name, member, required.has(name), secret),
  );
}

function fieldOf(name: string, schema: JsonSchema, required: boolean, secret: boolean): Field {
  const choices = optionsOf(schema);
  if (choices) return { name, required, kind: "choice", options: choices };
  switch (schema.type) {
    case "string":
      return {
        name,
        required,
        kind: "text",
        secret,
        ...(schema.minLength !== undefined ? { minLength: schema.minLength } : {}),
        ...(schema.maxLength !== undefined ? { maxLength: schema.maxLength } : {}),
      };
    case "integer":
    case "number": {
      const min = schema.exclusiveMinimum ?? schema.minimum;
      const max = schema.exclusiveMaximum ?? schema.maximum;
      return {
        name,
        required,
        kind: "number",
        integer: schema.type === "integer",
        ...(min !== undefined ? { min } : {}),
        ...(max !== undefined ? { max } : {}),
        ...(schema.exclusiveMinimum !== undefined ? { exclusiveMin: true } : {}),
        ...(schema.exclusiveMaximum !== undefined ? { exclusiveMax: true } : {}),
      };
    }
    case "boolean":
      return { name, required, kind: "boolean" };
    case "array":
      if (!schema.items) throw new Unsupported(`${name} is a list of anything`);
      return { name, required, kind: "list", item: fieldOf(name, schema.items, true, secret) };
    case "object":
      return { name, required, kind: "object", fields: objectFields(schema, secret, name) };
    default:
      throw new Unsupported(`${name} has no single type`);
  }
}

/** The values of an enum, a const, or an alternate whose every branch is one of those or a boolean. */
function optionsOf(schema: JsonSchema): Scalar[] | undefined {
  if (schema.enum) return [...schema.enum];
  if (schema.const !== undefined) return [schema.const];
  if (schema.anyOf) {
    const branches = schema.anyOf.map((branch) =>
      branch.type === "boolean" && !branch.enum ? [true, false] : optionsOf(branch),
    );
    if (branches.every((options) => options !== undefined)) return branches.flat();
    throw new Unsupported("an alternate of more than fixed values");
  }
  return undefined;
}

/** The controls of a form before anything is typed. */
export function emptyValues(fields: readonly Field[]): ValueMap {
  return Object.fromEntries(fields.map((field) => [field.name, emptyValue(field)]));
}

export function emptyValue(field: Field): Value {
  switch (field.kind) {
    case "boolean":
      return false;
    case "list":
      return [];
    case "object":
      return emptyValues(field.fields);
    default:
      return "";
  }
}

/** How a choice's option is held by its select (its JSON, so `true` and `"true"` stay apart). */
export function optionKey(option: Scalar): string {
  return JSON.stringify(option);
}

export interface FormArgs {
  /** Exactly what the controls hold: an optional member left empty is not sent. */
  readonly args: Record<string, unknown>;
  /** Required members left empty, named as the form labels them (`vcpus 1: logical-id`). */
  readonly missing: readonly string[];
  /** Values the schema refuses (a number out of range, text too short). */
  readonly invalid: readonly string[];
}

/** The arguments the form holds, and what keeps them from being sent. */
export function argsOf(fields: readonly Field[], values: ValueMap): FormArgs {
  const missing: string[] = [];
  const invalid: string[] = [];
  const args = readObject(fields, values, "", { missing, invalid });
  return { args, missing, invalid };
}

interface Problems {
  readonly missing: string[];
  readonly invalid: string[];
}

const ABSENT = Symbol("absent");

function readObject(
  fields: readonly Field[],
  values: ValueMap,
  prefix: string,
  problems: Problems,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const value = Object.hasOwn(values, field.name) ? values[field.name] : undefined;
    const read = readField(field, value, prefix ? `${prefix}: ${field.name}` : field.name, false, problems);
    if (read !== ABSENT) out[field.name] = read;
  }
  return out;
}

/**
 * One control's value, or ABSENT. An item of a list is always there (an added item is sent, "" included);
 * an optional checkbox left clear is not sent: every optional flag of the catalogue defaults to false.
 */
function readField(
  field: Field,
  value: Value | undefined,
  path: string,
  inList: boolean,
  problems: Problems,
): unknown {
  const absent = () => {
    if (field.required || inList) problems.missing.push(path);
    return ABSENT;
  };
  switch (field.kind) {
    case "text": {
      const text = typeof value === "string" ? value : "";
      if (text === "" && !inList) return absent();
      if (field.minLength !== undefined && text.length < field.minLength) {
        problems.invalid.push(
          field.minLength === 1 ? `${path} must not be empty` : `${path} needs ${field.minLength} characters`,
        );
      }
      if (field.maxLength !== undefined && text.length > field.maxLength) {
        problems.invalid.push(`${path} takes at most ${field.maxLength} characters`);
      }
      return text;
    }
    case "number": {
      const text = typeof value === "string" ? value.trim() : "";
      if (text === "") return absent();
      const number = Number(text);
      const problem = numberProblem(field, number);
      if (problem) problems.invalid.push(`${path} ${problem}`);
      return number;
    }
    case "boolean":
      return value === true || field.required || inList ? value === true : ABSENT;
    case "choice": {
      const option = field.options.find((o) => optionKey(o) === value);
      return option === undefined ? absent() : option;
    }
    case "list": {
      const items = Array.isArray(value) ? (value as readonly Value[]) : [];
      if (items.length === 0 && !field.required && !inList) return ABSENT;
      return items.map((item, i) => {
        const read = readField(field.item, item, `${path} ${i + 1}`, true, problems);
        return read === ABSENT ? null : read;
      });
    }
    case "object": {
      const map = isValueMap(value) ? value : emptyValues(field.fields);
      const members = readObject(field.fields, map, path, problems);
      return Object.keys(members).length === 0 && !field.required && !inList ? ABSENT : members;
    }
  }
}

function numberProblem(field: Extract<Field, { kind: "number" }>, number: number): string | undefined {
  if (!Number.isFinite(number)) return "must be a number";
  if (field.integer && !Number.isInteger(number)) return "must be an integer";
  if (field.min !== undefined && (field.exclusiveMin ? number <= field.min : number < field.min)) {
    return `must be ${field.exclusiveMin ? "above" : "at least"} ${field.min}`;
  }
  if (field.max !== undefined && (field.exclusiveMax ? number >= field.max : number > field.max)) {
    return `must be ${field.exclusiveMax ? "below" : "at most"} ${field.max}`;
  }
  return undefined;
}

function isValueMap(value: Value | undefined): value is ValueMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPlainObject(json: unknown): json is Record<string, unknown> {
  return typeof json === "object" && json !== null && !Array.isArray(json);
}

export type Fitted = { readonly values: ValueMap } | { readonly problem: string };

/**
 * The controls that hold `json` (arguments typed as JSON), or why the form cannot show it: a member the
 * form has no control for, a value of another type, an optional flag given as false. Checked by turning
 * the controls back into arguments, so the form never shows anything but what would be sent.
 */
export function fitJson(fields: readonly Field[], json: unknown): Fitted {
  if (!isPlainObject(json)) return { problem: "the arguments must be a JSON object" };
  const values = valuesOfObject(fields, json);
  const { args, invalid } = argsOf(fields, values);
  const differ = [...new Set([...Object.keys(json), ...Object.keys(args)])].filter(
    (key) => !sameJson(json[key], args[key]),
  );
  if (differ.length > 0) {
    return {
      problem: `the form cannot show ${differ.map((key) => JSON.stringify(key)).join(", ")} as given`,
    };
  }
  if (invalid.length > 0) return { problem: invalid.join("; ") };
  return { values };
}

function valuesOfObject(fields: readonly Field[], json: Record<string, unknown>): ValueMap {
  return Object.fromEntries(
    fields.map((field) => [
      field.name,
      Object.hasOwn(json, field.name) ? valueFromJson(field, json[field.name]) : emptyValue(field),
    ]),
  );
}

// Lenient on purpose: whatever does not fit comes out different, and fitJson's round trip reports it.
function valueFromJson(field: Field, json: unknown): Value {
  switch (field.kind) {
    case "text":
      return typeof json === "string" ? json : "";
    case "number":
      return typeof json === "number" ? String(json) : "";
    case "boolean":
      return json === true;
    case "choice": {
      const option = field.options.find((o) => o === json);
      return option === undefined ? "" : optionKey(option);
    }
    case "list":
      return Array.isArray(json) ? json.map((item) => valueFromJson(field.item, item)) : [];
    case "object":
      return isPlainObject(json) ? valuesOfObject(field.fields, json) : emptyValues(field.fields);
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => sameJson(item, b[i]))
    );
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key]))
    );
  }
  return a === b;
}
