import { z } from "zod";
import { WorkerError } from "../../errors.js";
import { argBool, argNonEmptyString, argsObject } from "../../qga/catalogue/scalars.js";
import { AgentReplyError } from "../../qga/errors.js";
import { defineVerb } from "./verb.js";

/*
 * The password is a secret from the moment it arrives: no message here may quote it, in any form. That
 * rules out zod's and the catalogue's messages that quote the input (a number given as password would be
 * shown), so the password's schema has its own words; and an agent error is scrubbed before it is answered.
 */

// qemu-ga writes "user:password" lines to chpasswd: ':' or a line break in the name would change the line.
const user = argNonEmptyString()
  .max(256, { error: "user must be at most 256 characters long" })
  .refine((name) => !/[:\r\n\0]/.test(name), {
    error: "user must not contain ':', a line break or a NUL character",
  });

const password = z
  .string({
    error: (iss) => (iss.input === undefined ? "password is required" : "password must be a string"),
  })
  // An empty password lets anyone log in: refused, crypted or not (a crypted "!" locks an account instead).
  .min(1, { error: "password must not be empty" })
  .max(1024, { error: "password must be at most 1024 characters long" })
  // The agent refuses a line break and stops at a NUL: refuse both here, before anything leaves.
  .refine((text) => !/[\r\n\0]/.test(text), {
    error: "password must not contain a line break or a NUL character",
  });

/** `guest-set-user-password`: the password goes base64-encoded (its UTF-8 bytes), as the agent expects. */
export const setPassword = defineVerb({
  name: "set-password",
  set: "users",
  args: argsObject({ user, password, crypted: argBool().optional() }),
  async run(context, args) {
    const encoded = Buffer.from(args.password, "utf8").toString("base64");
    const crypted = args.crypted ?? false;
    try {
      await context.agent.call(
        "guest-set-user-password",
        { username: args.user, password: encoded, crypted },
        { timeoutMs: context.timeoutMs },
      );
    } catch (error) {
      throw withoutSecrets(error, [args.password, encoded]);
    }
    context.log.info({ user: args.user, crypted }, "set a guest user's password");
    return { user: args.user };
  },
});

/**
 * The agent's own error text is the one message not written here: should it ever quote the password
 * (a chpasswd that echoes its input, a Windows error), the quote is blanked before anyone sees it.
 */
function withoutSecrets(error: unknown, secrets: readonly string[]): unknown {
  const leaks = (text: string): boolean => secrets.some((secret) => text.includes(secret));
  const blank = (text: string): string =>
    secrets.reduce((out, secret) => out.split(secret).join("[redacted]"), text);
  if (error instanceof AgentReplyError) {
    return leaks(error.desc) || leaks(error.errorClass)
      ? new AgentReplyError(blank(error.errorClass), blank(error.desc))
      : error;
  }
  // Our own errors never quote arguments; anything else that does is answered without its text (or cause).
  if (error instanceof Error && leaks(`${error.message}\n${error.stack ?? ""}`)) {
    return new WorkerError(
      "internal",
      "setting the password failed (the error quoted it, so it is withheld)",
    );
  }
  return error;
}
