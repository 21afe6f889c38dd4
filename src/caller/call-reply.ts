import { z } from "zod";

/**
 * A reply as the workers publish it (commands/reply.ts); parsed loosely: a client only reads these. Pure
 * zod, no Node imports: the console's page (ui/) parses replies with it too.
 */
export const CallReply = z.looseObject({
  id: z.string().optional(),
  vm: z.string(),
  command: z.string(),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
  ms: z.number().optional(),
});
export type CallReply = z.infer<typeof CallReply>;
