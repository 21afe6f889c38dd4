import { z } from "zod";
import { Config } from "./schema.js";

/** The parts of a JSON Schema node that the configuration's tools read (env.ts, problems.ts). */
export interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  additionalProperties?: JsonSchemaNode | boolean;
  anyOf?: JsonSchemaNode[];
  const?: unknown;
  enum?: unknown[];
  description?: string;
}

/**
 * The configuration's JSON Schema, generated from the zod schema (what `qga-mqtt schema` prints): the
 * input side, with every default, so keys with a default are not marked required.
 */
export function configJsonSchema(): JsonSchemaNode {
  return z.toJSONSchema(Config, {
    io: "input",
    unrepresentable: "any",
    // A section left out is parsed as `{}` (`.prefault({})`): editors are shown what that gives, not `{}`.
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema instanceof z.ZodPrefault) jsonSchema.default = zodSchema.parse(undefined);
    },
  }) as JsonSchemaNode;
}

/**
 * The keys an object at `path` may hold (a list's items by index, a map's entries by any name), or
 * undefined when the path is not an object of fixed keys.
 */
export function keysAt(root: JsonSchemaNode, path: readonly PropertyKey[]): string[] | undefined {
  let nodes = [root];
  for (const segment of path) {
    nodes = nodes.flatMap(branches).flatMap((node) => {
      if (typeof segment === "number") return node.items ? [node.items] : [];
      const child = node.properties?.[String(segment)];
      if (child) return [child];
      const entries = node.additionalProperties;
      return typeof entries === "object" ? [entries] : [];
    });
  }
  const keys = nodes.flatMap(branches).flatMap((node) => Object.keys(node.properties ?? {}));
  return keys.length > 0 ? [...new Set(keys)] : undefined;
}

/** A union's branches (`connection: hold | {linger}`), or the node itself. */
function branches(node: JsonSchemaNode): JsonSchemaNode[] {
  return node.anyOf ? node.anyOf.flatMap(branches) : [node];
}
