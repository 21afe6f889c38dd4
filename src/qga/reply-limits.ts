/**
 * Bounds on the shape of one agent reply, checked where its line is parsed, before anything else looks at
 * it. The guest's root writes these lines. JSON.parse builds a value nested 100,000 deep without trouble,
 * but everything after it recurses (zod, and JSON.stringify when the worker publishes the reply) and
 * overflows the stack; and a 24 MiB line of `[0,0,…]` is twelve million values for every later step.
 *
 * Real replies are far inside both bounds: the deepest nest 5 levels in their line (guest-get-fsinfo:
 * line → return → filesystem → disk → pci-controller), and the largest hold tens of thousands of values
 * (the interfaces of a container host, the memory blocks of a large guest).
 */
export interface ReplyLimits {
  /** Deepest nesting of arrays and objects in a reply line; the line's own object is level 1. */
  readonly maxDepth: number;
  /** Most values in one reply line, every object, array, member and element counted. */
  readonly maxNodes: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = { maxDepth: 64, maxNodes: 1_000_000 };

/**
 * Why `value` (fresh from JSON.parse) passes a bound, or undefined when it does not. Walks with a stack
 * of its own, never by recursion, and counts every value as it is first seen: it stops as soon as a
 * bound is passed, so a hostile value costs at most `maxNodes` steps whatever its size.
 */
export function replyShapeProblem(value: unknown, limits: ReplyLimits): string | undefined {
  if (!isContainer(value)) return undefined;
  if (limits.maxDepth < 1) return tooDeep(limits);
  const containers: object[] = [value];
  const depths: number[] = [1];
  let nodes = 1;
  const see = (child: unknown, depth: number): string | undefined => {
    if (++nodes > limits.maxNodes) return tooMany(limits);
    if (!isContainer(child)) return undefined;
    if (depth > limits.maxDepth) return tooDeep(limits);
    containers.push(child);
    depths.push(depth);
    return undefined;
  };
  for (let container = containers.pop(); container !== undefined; container = containers.pop()) {
    const depth = (depths.pop() ?? 0) + 1;
    if (Array.isArray(container)) {
      for (const child of container as unknown[]) {
        const problem = see(child, depth);
        if (problem) return problem;
      }
    } else {
      // for…in, not Object.keys: no array of a million keys is built before the count can stop.
      for (const key in container) {
        if (!Object.hasOwn(container, key)) continue;
        const problem = see((container as Record<string, unknown>)[key], depth);
        if (problem) return problem;
      }
    }
  }
  return undefined;
}

// Built only when a bound is passed: every reply line goes through the walk.
function tooDeep(limits: ReplyLimits): string {
  return `the reply is nested deeper than ${limits.maxDepth} levels (maxReplyDepth)`;
}

function tooMany(limits: ReplyLimits): string {
  return `the reply holds more than ${limits.maxNodes} values (maxReplyNodes)`;
}

function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
