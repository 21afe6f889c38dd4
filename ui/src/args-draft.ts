import { ARGS_CATALOGUE } from "./args-catalogue.js";
import {
  argsOf,
  emptyValues,
  type Field,
  type Fitted,
  type FormModel,
  fitJson,
  formOf,
  type ValueMap,
} from "./args-schema.js";

/*
 * The state of the Run page's arguments (args-editor.tsx draws it): a form drawn from the command's JSON
 * Schema, or the JSON box (verbs, commands the catalogue does not know, and anyone who ticks "Edit as
 * JSON"). Both hold the same arguments: each form change rewrites the JSON, and JSON that parses and
 * fits the form refills the form. No DOM here, so the unit tests run it.
 */

export interface ArgsDraft {
  /** Showing the JSON box rather than the form. */
  readonly json: boolean;
  readonly values: ValueMap;
  readonly text: string;
}

export interface ArgsChoice {
  /** The form for a raw command of the catalogue, or why it has none; undefined for anything else. */
  readonly model: FormModel | undefined;
  readonly description?: string;
}

/** What the page knows of `command`'s arguments. */
export function argsChoiceOf(command: string): ArgsChoice {
  const entry = Object.hasOwn(ARGS_CATALOGUE, command) ? ARGS_CATALOGUE[command] : undefined;
  if (!entry) return { model: undefined };
  return { model: formOf(entry), description: entry.description };
}

/** The form's fields, when the command has a form. */
export function fieldsOf(choice: ArgsChoice): readonly Field[] | undefined {
  return choice.model && "fields" in choice.model ? choice.model.fields : undefined;
}

/**
 * A new command's draft: its empty form, or the JSON box. `carried` (JSON typed while the command's name
 * was being typed) is kept: it fills the form if it fits, else stays in the box.
 */
export function draftFor(choice: ArgsChoice, carried = ""): ArgsDraft {
  const fields = fieldsOf(choice);
  if (!fields) return { json: true, values: {}, text: carried };
  const fit = fitText(fields, carried);
  if (!("values" in fit)) return { json: true, values: emptyValues(fields), text: carried };
  return {
    json: false,
    values: fit.values,
    text: carried.trim() === "" ? formText(fields, fit.values) : carried,
  };
}

/** The form changed: the JSON box follows. */
export function withValues(choice: ArgsChoice, draft: ArgsDraft, values: ValueMap): ArgsDraft {
  const fields = fieldsOf(choice);
  return { ...draft, values, text: fields ? formText(fields, values) : draft.text };
}

/** The JSON box changed: the form follows when the text fits it. */
export function withText(choice: ArgsChoice, draft: ArgsDraft, text: string): ArgsDraft {
  const fields = fieldsOf(choice);
  const fit = fields ? fitText(fields, text) : undefined;
  return { ...draft, text, ...(fit && "values" in fit ? { values: fit.values } : {}) };
}

/**
 * "Edit as JSON" ticked or cleared. Back to the form only when the JSON fits it (else unchanged), the
 * text then rewritten as the form writes it: the same arguments, its own layout.
 */
export function asJson(choice: ArgsChoice, draft: ArgsDraft, json: boolean): ArgsDraft {
  const fields = fieldsOf(choice);
  if (json || !fields) return { ...draft, json: json || !fields };
  const fit = fitText(fields, draft.text);
  return "values" in fit ? { json: false, values: fit.values, text: formText(fields, fit.values) } : draft;
}

/** Whether JSON text fits the form (empty text: the empty form), and if not, why. */
export function fitText(fields: readonly Field[], text: string): Fitted {
  if (text.trim() === "") return { values: emptyValues(fields) };
  const parsed = parse(text);
  return "problem" in parsed
    ? { problem: `it does not parse (${parsed.problem})` }
    : fitJson(fields, parsed.json);
}

function formText(fields: readonly Field[], values: ValueMap): string {
  const { args } = argsOf(fields, values);
  return Object.keys(args).length === 0 ? "" : JSON.stringify(args, null, 2);
}

function parse(text: string): { json: unknown } | { problem: string } {
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

export type ArgsOutcome =
  | { readonly args: Record<string, unknown> | undefined }
  | { readonly blocker: string };

/** The arguments to send (none when empty), or what keeps the Run button disabled. */
export function outcomeOf(choice: ArgsChoice, draft: ArgsDraft): ArgsOutcome {
  const fields = fieldsOf(choice);
  if (fields && !draft.json) {
    const { args, missing, invalid } = argsOf(fields, draft.values);
    if (missing.length > 0) return { blocker: `Fill in ${missing.join(", ")}.` };
    if (invalid.length > 0) return { blocker: `Arguments: ${invalid.join("; ")}.` };
    return { args: Object.keys(args).length === 0 ? undefined : args };
  }
  // The JSON box: sent as typed, an empty box meaning no arguments.
  if (draft.text.trim() === "") return { args: undefined };
  const parsed = parse(draft.text);
  if ("problem" in parsed) return { blocker: `Arguments: ${parsed.problem}` };
  const { json } = parsed;
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { blocker: "Arguments: the arguments must be a JSON object" };
  }
  return { args: json as Record<string, unknown> };
}
