import { flavourOf } from "../path-flavour.js";
import { authorizeFile, authorizeProgram } from "../paths.js";
import type { VerbContext } from "./verb.js";

/** The file a verb may touch on this VM, judged as its guest reads paths (restrictions.files). */
export async function allowedFile(context: VerbContext, path: string): Promise<string> {
  return authorizeFile(path, context.restriction.files, context.vm, await flavourOf(context.agent));
}

/** The program a verb may start on this VM, judged as its guest reads paths (restrictions.exec). */
export async function allowedProgram(context: VerbContext, path: string): Promise<string> {
  return authorizeProgram(path, context.restriction.exec, context.vm, await flavourOf(context.agent));
}
