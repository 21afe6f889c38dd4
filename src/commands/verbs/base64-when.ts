import type { z } from "zod";
import { isBase64 } from "../../qga/catalogue/scalars.js";

/**
 * A superRefine for verbs whose text member may be base64 (`exec`'s stdin, `write-file`'s content): when the
 * encoding member says base64, the text must be canonical base64. zod may run this after another member
 * failed, so it checks its own inputs; the issue leaves the input out, as it may be a file or a secret.
 */
export function base64When<K extends string, E extends string>(text: K, encoding: E, message: string) {
  return (value: Partial<Record<K | E, unknown>>, ctx: z.RefinementCtx): void => {
    const content = value[text];
    if (value[encoding] !== "base64" || typeof content !== "string" || isBase64(content)) return;
    ctx.addIssue({ code: "custom", path: [text], message });
  };
}
