import { WorkerError } from "../../errors.js";
import { argEnum, argString, argsObject } from "../../qga/catalogue/scalars.js";
import { argPath } from "../paths.js";
import { LARGER_FILES } from "../request.js";
import { base64When } from "./base64-when.js";
import { remainingMs } from "./deadline.js";
import { withGuestFile } from "./guest-file.js";
import { allowedFile } from "./guest-paths.js";
import { sha256Hex } from "./output.js";
import { defineVerb } from "./verb.js";

const WriteArgs = argsObject({
  path: argPath(),
  content: argString(),
  encoding: argEnum(["utf8", "base64"]).default("utf8"),
  mode: argEnum(["w", "a"]).default("w"),
}).superRefine(
  base64When(
    "content",
    "encoding",
    "content must be base64 (standard alphabet, padded) when encoding is base64",
  ),
);

/**
 * Writes (mode "w": replaces, "a": appends) the whole content, in chunks of limits.fileChunkBytes,
 * checks every count the agent reports, flushes, and replies with the bytes written and their sha256.
 */
export const writeFile = defineVerb({
  name: "write-file",
  set: "files",
  args: WriteArgs,
  async run(context, args) {
    const path = await allowedFile(context, args.path);
    const { fileBytes, fileChunkBytes } = context.limits;
    const content = Buffer.from(args.content, args.encoding);
    if (content.length > fileBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `args.content: ${content.length} bytes, over the limit of ${fileBytes} (limits.fileBytes); ${LARGER_FILES}`,
      );
    }
    await withGuestFile(context, path, args.mode, async (handle) => {
      for (let offset = 0; offset < content.length; offset += fileChunkBytes) {
        const chunk = content.subarray(offset, offset + fileChunkBytes);
        const wrote = await context.agent.call(
          "guest-file-write",
          { handle, "buf-b64": chunk.toString("base64") },
          { timeoutMs: remainingMs(context, `after ${offset} bytes were written`) },
        );
        if (wrote.count !== chunk.length) {
          throw new WorkerError(
            "agent_error",
            `the agent wrote ${wrote.count} of ${chunk.length} bytes at byte ${offset} of the content ` +
              "(is the guest's disk full?); the file is incomplete",
            { details: { bytes_written: offset + Math.max(0, wrote.count) } },
          );
        }
      }
      await context.agent.call(
        "guest-file-flush",
        { handle },
        { timeoutMs: remainingMs(context, "before the file was flushed") },
      );
    });
    return { bytes: content.length, sha256: sha256Hex(content) };
  },
});
