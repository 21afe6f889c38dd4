import { z } from "zod";
import { defineVerb } from "./verb.js";

/** Polls now; the poller republishes the fresh snapshot, and the reply carries it too. */
export const status = defineVerb({
  name: "status",
  set: "read",
  args: z.strictObject({}),
  run(context) {
    return context.pollStatus();
  },
});
