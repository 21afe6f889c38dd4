import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { Config } from "../../src/config/schema.js";

/** config/reference.yaml is the all-options reference: it must stay the defaults, and name every key. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const text = readFileSync(path.join(root, "config/reference.yaml"), "utf8");

test("the reference config is exactly the defaults", () => {
  assert.deepEqual(Config.parse(parse(text)), Config.parse({}));
});

test("the reference config names every key of the schema (set or in a comment)", () => {
  const missing: string[] = [];
  const walk = (schema: unknown, at: string): void => {
    const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
    for (const [key, child] of Object.entries(properties)) {
      if (!new RegExp(`\\b${key}:`).test(text)) missing.push(`${at}${key}`);
      walk(child, `${at}${key}.`);
      const items = (child as { items?: unknown }).items;
      if (items) walk(items, `${at}${key}[].`);
    }
  };
  walk(z.toJSONSchema(Config, { io: "input", unrepresentable: "any" }), "");
  assert.deepEqual(missing, [], "keys missing from config/reference.yaml");
});
