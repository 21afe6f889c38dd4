// The guest's serial console, which QEMU writes to a file: its tail, readable, for error reports.
import { readFile } from "node:fs/promises";

// The guest's kernel log and our /init are short; this is enough to see why a boot failed.
export const CONSOLE_TAIL_BYTES = 4096;

/** The last CONSOLE_TAIL_BYTES of the console log, without terminal escapes; a note when there is none. */
export async function consoleTail(file: string): Promise<string> {
  let log: string;
  try {
    log = (await readFile(file, "utf8")).slice(-CONSOLE_TAIL_BYTES);
  } catch {
    log = "(no console log)";
  }
  // SeaBIOS clears the screen with escape sequences; they make the log unreadable in a test report.
  return log
    .split("\u001b")
    .map((part, i) => (i === 0 ? part : part.replace(/^(\[[0-9;?]*[A-Za-z]|c)/, "")))
    .join("");
}
