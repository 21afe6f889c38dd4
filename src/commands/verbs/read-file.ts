import { WorkerError } from "../../errors.js";
import { argCount, argsObject } from "../../qga/catalogue/scalars.js";
import { argPath } from "../paths.js";
import { remainingMs } from "./deadline.js";
import { withGuestFile } from "./guest-file.js";
import { allowedFile } from "./guest-paths.js";
import { encodeBytes, sha256Hex } from "./output.js";
import { defineVerb } from "./verb.js";

/**
 * Reads up to `length` bytes (default and at most limits.fileBytes) from `offset`, in chunks of
 * limits.fileChunkBytes so no agent reply comes near its message limit. A larger file is read piece by
 * piece with offset; `eof` says whether its end was reached.
 */
export const readFile = defineVerb({
  name: "read-file",
  set: "files",
  args: argsObject({
    path: argPath(),
    offset: argCount().optional(),
    length: argCount().min(1, { error: "length must be at least 1" }).optional(),
  }),
  async run(context, args) {
    const path = await allowedFile(context, args.path);
    const { fileBytes, fileChunkBytes } = context.limits;
    if (args.length !== undefined && args.length > fileBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `args.length: must be at most ${fileBytes} bytes (limits.fileBytes); read larger files in parts with offset`,
      );
    }
    const length = args.length ?? fileBytes;
    return withGuestFile(context, path, "r", async (handle) => {
      if (args.offset) {
        await context.agent.call(
          "guest-file-seek",
          { handle, offset: args.offset, whence: "set" },
          { timeoutMs: remainingMs(context, "while seeking to the offset") },
        );
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      let eof = false;
      while (bytes < length && !eof) {
        const count = Math.min(fileChunkBytes, length - bytes);
        const read = await context.agent.call(
          "guest-file-read",
          { handle, count },
          { timeoutMs: remainingMs(context, `after ${bytes} bytes were read`) },
        );
        // Never more than asked for, whatever the agent sends: the limit is the worker's promise.
        const chunk = Buffer.from(read["buf-b64"], "base64").subarray(0, count);
        chunks.push(chunk);
        bytes += chunk.length;
        eof = read.eof;
        // No bytes and no eof (a pipe or device with nothing to give): waiting would only hit the timeout.
        if (chunk.length === 0) break;
      }
      const content = Buffer.concat(chunks);
      const encoded = encodeBytes(content);
      return {
        content: encoded.data,
        encoding: encoded.encoding,
        bytes: content.length,
        sha256: sha256Hex(content),
        eof,
      };
    });
  },
});
