import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { ARGS_CATALOGUE_FILE, argsCatalogueSource } from "../../scripts/gen-args-catalogue.js";
import { catalogue, commandNames } from "../../src/qga/catalogue/index.js";
import { ARGS_CATALOGUE } from "../../ui/src/args-catalogue.js";
import {
  argsOf,
  type CatalogueEntry,
  emptyValues,
  type Field,
  fitJson,
  formOf,
  optionKey,
  type Value,
  type ValueMap,
} from "../../ui/src/args-schema.js";

const ROOT = path.resolve(path.dirname(ARGS_CATALOGUE_FILE), "../..");

/*
 * The Run page's arguments form as data (ui/src/args-schema.ts): which controls each catalogue command's
 * JSON Schema gives, and that the arguments the controls make are the ones the worker's zod schema takes.
 */

function fieldsOf(command: string): readonly Field[] {
  const entry = ARGS_CATALOGUE[command];
  assert.ok(entry, `${command} is not in ui/src/args-catalogue.ts`);
  const model = formOf(entry);
  assert.ok("fields" in model, `${command} has no form: ${"unsupported" in model ? model.unsupported : ""}`);
  return model.fields;
}

/** A field without its nested parts, for comparing the shape of a form. */
const brief = (field: Field) => ({ name: field.name, kind: field.kind, required: field.required });

test("ui/src/args-catalogue.ts is what scripts/gen-args-catalogue.ts writes from the catalogue", () => {
  assert.equal(
    readFileSync(ARGS_CATALOGUE_FILE, "utf8"),
    argsCatalogueSource(),
    "stale: run npx tsx scripts/gen-args-catalogue.ts",
  );
  assert.deepEqual(Object.keys(ARGS_CATALOGUE), [...commandNames]);
});

test("the README's command `npx tsx scripts/gen-args-catalogue.ts` runs and writes the same file", () => {
  const before = readFileSync(ARGS_CATALOGUE_FILE, "utf8");
  const stdout = execSync("npx tsx scripts/gen-args-catalogue.ts", { cwd: ROOT, encoding: "utf8" });
  assert.equal(stdout, "wrote ui/src/args-catalogue.ts\n");
  assert.equal(readFileSync(ARGS_CATALOGUE_FILE, "utf8"), before);
});

test("guest-exec: a required path, two lists, optional input, and capture-output as one choice", () => {
  const fields = fieldsOf("guest-exec");
  assert.deepEqual(fields.map(brief), [
    { name: "path", kind: "text", required: true },
    { name: "arg", kind: "list", required: false },
    { name: "env", kind: "list", required: false },
    { name: "input-data", kind: "text", required: false },
    { name: "capture-output", kind: "choice", required: false },
  ]);
  const capture = fields[4];
  assert.ok(capture?.kind === "choice");
  // The alternate's branches, flag first: true and "true" stay two different options.
  assert.deepEqual(capture.options, [true, false, "none", "stdout", "stderr", "separated", "merged"]);
  const arg = fields[1];
  assert.ok(arg?.kind === "list" && arg.item.kind === "text" && !arg.item.secret);

  const empty = argsOf(fields, emptyValues(fields));
  assert.deepEqual(empty, { args: {}, missing: ["path"], invalid: [] });
  const values: ValueMap = {
    ...emptyValues(fields),
    path: "/usr/bin/uptime",
    arg: ["-p", ""],
    "capture-output": optionKey(true),
  };
  const made = argsOf(fields, values);
  // Optional members left empty are not sent; an added list item is, even empty.
  assert.deepEqual(made, {
    args: { path: "/usr/bin/uptime", arg: ["-p", ""], "capture-output": true },
    missing: [],
    invalid: [],
  });
  assert.ok(catalogue["guest-exec"].args.safeParse(made.args).success);
});

test("guest-file-open: path must be filled; mode is a select of fopen() modes, left out when not chosen", () => {
  const fields = fieldsOf("guest-file-open");
  assert.deepEqual(fields.map(brief), [
    { name: "path", kind: "text", required: true },
    { name: "mode", kind: "choice", required: false },
  ]);
  const mode = fields[1];
  assert.ok(mode?.kind === "choice");
  assert.equal(mode.options.length, 15);
  assert.deepEqual(argsOf(fields, { path: "", mode: "" }).missing, ["path"]);
  assert.deepEqual(argsOf(fields, { path: "/etc/motd", mode: "" }).args, { path: "/etc/motd" });
  assert.deepEqual(argsOf(fields, { path: "/etc/motd", mode: optionKey("a+") }).args, {
    path: "/etc/motd",
    mode: "a+",
  });
});

test("guest-set-user-password: every text control masked; the required flag is always sent", () => {
  const fields = fieldsOf("guest-set-user-password");
  assert.deepEqual(fields.map(brief), [
    { name: "username", kind: "text", required: true },
    { name: "password", kind: "text", required: true },
    { name: "crypted", kind: "boolean", required: true },
  ]);
  for (const field of fields) if (field.kind === "text") assert.equal(field.secret, true, field.name);
  assert.deepEqual(argsOf(fields, emptyValues(fields)), {
    args: { crypted: false },
    missing: ["username", "password"],
    invalid: [],
  });
  const args = argsOf(fields, { username: "alice", password: "c2VjcmV0", crypted: false }).args;
  assert.deepEqual(args, { username: "alice", password: "c2VjcmV0", crypted: false });
  assert.ok(catalogue["guest-set-user-password"].args.safeParse(args).success);
  // A command without secretArgs masks nothing.
  const path = fieldsOf("guest-file-open")[0];
  assert.ok(path?.kind === "text" && !path.secret);
});

test("a command without arguments has an empty form that sends nothing", () => {
  for (const command of ["guest-get-fsinfo", "guest-ping", "guest-get-osinfo"]) {
    const fields = fieldsOf(command);
    assert.deepEqual(fields, []);
    assert.deepEqual(argsOf(fields, emptyValues(fields)), { args: {}, missing: [], invalid: [] });
  }
});

test("numbers: integers within the schema's bounds, wide int64 bounds exclusive", () => {
  const read = fieldsOf("guest-file-read");
  const count = read[1];
  assert.ok(count?.kind === "number" && count.integer);
  assert.equal(count.min, 0);
  assert.equal(count.max, 48 * 1024 * 1024);
  const problems = (value: string) => argsOf(read, { handle: "1000", count: value }).invalid;
  assert.deepEqual(problems("4096"), []);
  assert.deepEqual(problems("1.5"), ["count must be an integer"]);
  assert.deepEqual(problems("-1"), ["count must be at least 0"]);
  assert.deepEqual(problems(String(48 * 1024 * 1024 + 1)), ["count must be at most 50331648"]);
  assert.deepEqual(problems("abc"), ["count must be a number"]);
  assert.deepEqual(argsOf(read, { handle: " 7 ", count: "" }).args, { handle: 7 });

  const time = fieldsOf("guest-set-time")[0];
  assert.ok(time?.kind === "number" && !time.integer && time.exclusiveMax === true);
  assert.deepEqual(argsOf([time], { time: "9223372036854775808" }).invalid, [
    "time must be below 9223372036854776000",
  ]);
  assert.deepEqual(argsOf([time], { time: "1795706843837769000" }).args, { time: 1795706843837769000 });
});

test("a list of objects (guest-set-vcpus) is a list of fieldsets, each item's members checked", () => {
  const fields = fieldsOf("guest-set-vcpus");
  const vcpus = fields[0];
  assert.ok(vcpus?.kind === "list" && vcpus.required && vcpus.item.kind === "object");
  assert.deepEqual(vcpus.item.fields.map(brief), [
    { name: "logical-id", kind: "number", required: true },
    { name: "online", kind: "boolean", required: true },
    { name: "can-offline", kind: "boolean", required: false },
  ]);
  // Required and empty: sent as [] (the agent answers 0 changed), not missing.
  assert.deepEqual(argsOf(fields, emptyValues(fields)).args, { vcpus: [] });
  const item = (id: string): ValueMap => ({ "logical-id": id, online: true, "can-offline": false });
  assert.deepEqual(argsOf(fields, { vcpus: [item("1"), item("")] }).missing, ["vcpus 2: logical-id"]);
  const args = argsOf(fields, { vcpus: [item("1")] }).args;
  assert.deepEqual(args, { vcpus: [{ "logical-id": 1, online: true }] });
  assert.ok(catalogue["guest-set-vcpus"].args.safeParse(args).success);
});

test("JSON fits the form only when the form would send exactly it", () => {
  const exec = fieldsOf("guest-exec");
  const given = { "capture-output": "merged", arg: ["a", "b c"], path: "/bin/ls" };
  const fitted = fitJson(exec, given);
  assert.ok("values" in fitted, JSON.stringify(fitted));
  assert.deepEqual(argsOf(exec, fitted.values).args, given);
  assert.deepEqual(fitJson(exec, { path: "/bin/ls", shell: true }), {
    problem: 'the form cannot show "shell" as given',
  });
  assert.deepEqual(fitJson(exec, { path: 42 }), { problem: 'the form cannot show "path" as given' });
  assert.deepEqual(fitJson(exec, [1]), { problem: "the arguments must be a JSON object" });
  // An optional flag given as false: a clear checkbox means "not sent", so the form cannot say it.
  const keys = fieldsOf("guest-ssh-add-authorized-keys");
  assert.ok("problem" in fitJson(keys, { username: "u", keys: [], reset: false }));
  assert.ok("values" in fitJson(keys, { username: "u", keys: [], reset: true }));
  // Out of range: the form would show it, but not send it.
  assert.deepEqual(fitJson(fieldsOf("guest-fstrim"), { minimum: -1 }), {
    problem: "minimum must be at least 0",
  });
});

test("a schema the form cannot draw falls back to JSON, with the reason", () => {
  const entry = (schema: CatalogueEntry["schema"]): CatalogueEntry => ({
    description: "",
    secret: false,
    schema,
  });
  assert.deepEqual(formOf({ ...entry(null), noForm: "no JSON Schema (a bigint)" }), {
    unsupported: "no JSON Schema (a bigint)",
  });
  assert.deepEqual(formOf(entry({ type: "object", properties: {} })), {
    unsupported: "arguments takes members of any name",
  });
  assert.deepEqual(
    formOf(
      entry({
        type: "object",
        additionalProperties: false,
        properties: { x: { anyOf: [{ type: "string" }, { type: "object", additionalProperties: false }] } },
      }),
    ),
    { unsupported: "an alternate of more than fixed values" },
  );
});

/**
 * Arbitrary control values for a field: text a base64 member also takes, numbers within bounds and at
 * most 5 (guest-file-write's count may not pass the bytes of its buf-b64, a rule between members that no
 * JSON Schema carries: the worker refuses it).
 */
function valueArb(field: Field, inList = false): fc.Arbitrary<Value> {
  switch (field.kind) {
    case "text":
      return inList || field.required
        ? fc.constantFrom("aGVsbG8=", "c2VjcmV0")
        : fc.constantFrom("", "aGVsbG8=");
    case "number": {
      const min = Math.max(field.min ?? -1000, -1000);
      const max = Math.min(field.max ?? 5, 5);
      const number = fc.integer({ min, max }).map(String);
      return inList || field.required ? number : fc.oneof(fc.constant(""), number);
    }
    case "boolean":
      return fc.boolean();
    case "choice": {
      const option = fc.constantFrom(...field.options.map(optionKey));
      return inList || field.required ? option : fc.oneof(fc.constant(""), option);
    }
    case "list":
      return fc.array(valueArb(field.item, true), { maxLength: 3 });
    case "object":
      return mapArb(field.fields);
  }
}

function mapArb(fields: readonly Field[]): fc.Arbitrary<ValueMap> {
  return fc.record(Object.fromEntries(fields.map((field) => [field.name, valueArb(field)])));
}

test("every command: whatever the form holds, filled in, the catalogue's schema takes, and JSON gives it back", () => {
  for (const command of commandNames) {
    const fields = fieldsOf(command);
    fc.assert(
      fc.property(mapArb(fields), (values) => {
        const { args, missing, invalid } = argsOf(fields, values);
        assert.deepEqual([missing, invalid], [[], []]);
        const parsed = catalogue[command].args.safeParse(args);
        assert.ok(parsed.success, `${command} ${JSON.stringify(args)}: ${parsed.error?.message}`);
        const fitted = fitJson(fields, args);
        assert.ok("values" in fitted, `${command} ${JSON.stringify(args)}: ${JSON.stringify(fitted)}`);
        assert.deepEqual(argsOf(fields, fitted.values).args, args);
      }),
      { numRuns: 50 },
    );
  }
});
