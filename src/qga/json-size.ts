/**
 * About how many bytes `value` takes as JSON, counting no further than `cap` (then `cap + 1`): strings by
 * their length, other scalars and punctuation by a few bytes each. What the dedupe window weighs replies
 * by, without serialising them a second time (the reply is serialised once, when published). Iterative:
 * a reply's depth is bounded where the agent's answer is parsed, and a walk must not depend on it.
 */
export function approximateJsonBytes(value: unknown, cap: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === "string") total += node.length + 2;
    else if (typeof node !== "object" || node === null) total += 8;
    else if (Array.isArray(node)) {
      total += 2 + node.length;
      for (const child of node) stack.push(child);
    } else {
      total += 2;
      for (const key in node) {
        total += key.length + 4;
        stack.push((node as Record<string, unknown>)[key]);
      }
    }
    if (total > cap) return cap + 1;
  }
  return total;
}
