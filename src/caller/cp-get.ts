import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, open, rename, rm, stat } from "node:fs/promises";
import { z } from "zod";
import { NoReplyError, ReplyError, type RequestChannel } from "./cp-channel.js";
import type { CpProgress } from "./cp-progress.js";
import { failed, round, type VmCopy } from "./cp-result.js";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Count = z.number().int().nonnegative();

/** get-begin's, get-part's and get-end's results (commands/transfer). */
export const GetBegin = z.looseObject({
  transfer: z.string().regex(/^[0-9a-f]{16}$/),
  size: Count,
  part_bytes: z.number().int().positive(),
  offset: Count.optional(),
});
export const GetPart = z.looseObject({ offset: Count, data: z.string(), sha256: Sha256, eof: z.boolean() });
export const GetEnd = z.looseObject({ bytes: Count, sha256: Sha256 });

export interface GetOptions {
  readonly channel: RequestChannel;
  /** The path in the guest. */
  readonly path: string;
  /** Where the file goes; written as `<local>.qga-part` first, renamed into place once its hash matched. */
  readonly local: string;
  readonly mode?: string;
  readonly progress: CpProgress;
  /** get-part requests asked for at once. */
  readonly inFlight: number;
}

/** Damaged parts in a row (their sha256 does not match their data) before the get gives up. */
const MAX_DAMAGED = 3;

/**
 * One VM's get: get-begin, the parts in order into a temporary local file (each checked against its own
 * sha256, the whole hashed as it is written), get-end, whose hash of everything served must equal ours;
 * then the rename into place. A temporary file left by an interrupted run (killed, or no reply) is resumed
 * from: get-begin with its length as `offset`. On any other failure it is removed and the transfer aborted.
 */
export async function getFromVm(vm: string, options: GetOptions): Promise<VmCopy> {
  const { channel, progress } = options;
  const started = performance.now();
  const temp = `${options.local}.qga-part`;
  let bytes = 0;
  let resumed = 0;
  let transfer: string | undefined;
  try {
    // What an interrupted get left: hashed here, and the worker hashes the guest's same bytes; get-end
    // compares the two (a file changed meanwhile is caught there, and the next run starts over).
    const kept = await keptBytes(temp);
    const begun = await channel
      .request(vm, "get-begin", { path: options.path, ...(kept.bytes > 0 ? { offset: kept.bytes } : {}) })
      .catch(async (error: unknown) => {
        if (kept.bytes === 0 || !(error instanceof ReplyError) || error.code !== "invalid_arguments")
          throw error;
        kept.bytes = 0;
        kept.hash = createHash("sha256");
        return channel.request(vm, "get-begin", { path: options.path });
      });
    const begin = GetBegin.parse(begun);
    transfer = begin.transfer;
    if ((begin.offset ?? 0) !== kept.bytes)
      throw new Error(`get-begin starts at byte ${begin.offset}, not at the ${kept.bytes} asked for`);
    resumed = kept.bytes;
    bytes = kept.bytes;
    const limit = begin.part_bytes;
    const hash = kept.hash;
    const out = await open(temp, kept.bytes > 0 ? "r+" : "w", 0o600);
    try {
      // Parts are asked for `inFlight` at once: the worker reads the next from the guest while one
      // travels. They are served and written in order; a damaged one starts the transfer again from the
      // bytes kept (the parts asked after it have moved the worker on).
      let damaged = 0;
      let stream = partStream(options, vm, transfer, bytes, begin.size, limit);
      for (;;) {
        const part = await stream.next();
        if (part === "damaged") {
          damaged += 1;
          if (damaged >= MAX_DAMAGED) throw new Error(`part at ${bytes} arrived damaged ${damaged} times`);
          await stream.drain();
          await channel.request(vm, "transfer-abort", { transfer }).catch(() => {});
          const again = GetBegin.parse(
            await channel.request(vm, "get-begin", { path: options.path, offset: bytes }),
          );
          transfer = again.transfer;
          if ((again.offset ?? 0) !== bytes)
            throw new Error(`get-begin starts at byte ${again.offset}, not at the ${bytes} asked for`);
          stream = partStream(options, vm, transfer, bytes, again.size, limit);
          continue;
        }
        damaged = 0;
        await out.write(part.data, 0, part.data.length, bytes);
        hash.update(part.data);
        bytes += part.data.length;
        progress.update(vm, bytes, Math.max(begin.size, bytes));
        if (part.eof) break;
        if (part.data.length < limit)
          throw new Error(
            `get-part sent ${part.data.length} bytes at ${bytes - part.data.length}, short of a part, and no eof`,
          );
      }
      // Anything asked for past a file that ended early is refused; get-end comes after it.
      await stream.drain();
    } finally {
      await out.close();
    }
    const end = GetEnd.parse(await channel.request(vm, "get-end", { transfer }));
    transfer = undefined;
    const sha256 = hash.digest("hex");
    if (end.sha256 !== sha256 || end.bytes !== bytes)
      throw new Error(
        `the file received does not match: the worker served ${end.bytes} bytes with sha256 ${end.sha256}, ` +
          `${bytes} bytes with sha256 ${sha256} arrived`,
      );
    if (options.mode) await chmod(temp, Number.parseInt(options.mode, 8));
    await rename(temp, options.local);
    return {
      vm,
      ok: true,
      bytes,
      sha256,
      path: options.local,
      moved: bytes,
      ms: round(performance.now() - started),
    };
  } catch (error) {
    // Kept for the next run to resume from, unless what it holds is wrong or the worker said no.
    if (!(error instanceof NoReplyError)) await rm(temp, { force: true }).catch(() => {});
    // The worker forgets an idle transfer anyway; abort frees its handle now (not after a silence).
    if (transfer !== undefined && !(error instanceof NoReplyError))
      await channel.request(vm, "transfer-abort", { transfer }).catch(() => {});
    return failed({ vm, bytes, path: options.local, moved: bytes - resumed }, started, error);
  } finally {
    progress.finish(vm);
  }
}

interface Part {
  readonly data: Buffer;
  readonly eof: boolean;
}

/**
 * The parts of one transfer from `from`, in order, with up to `inFlight` asked for ahead (never past the
 * size get-begin gave, so a file that ends there is asked for nothing more). A part whose bytes do not
 * match its sha256 is "damaged"; every other fault throws.
 */
function partStream(
  options: GetOptions,
  vm: string,
  transfer: string,
  from: number,
  size: number,
  limit: number,
) {
  const ahead: Array<Promise<Part | "damaged">> = [];
  let asked = from;
  const ask = () => {
    const offset = asked;
    const part = options.channel
      .request(vm, "get-part", { transfer, offset })
      .then((reply): Part | "damaged" => {
        const parsed = GetPart.parse(reply);
        if (parsed.offset !== offset)
          throw new Error(`get-part answered offset ${parsed.offset} when ${offset} was asked`);
        const data = Buffer.from(parsed.data, "base64");
        if (data.length > limit)
          throw new Error(`get-part sent ${data.length} bytes, more than its ${limit}`);
        if (createHash("sha256").update(data).digest("hex") !== parsed.sha256) return "damaged";
        if (data.length === 0 && !parsed.eof)
          throw new Error(`get-part sent no bytes at ${offset} and no eof`);
        return { data, eof: parsed.eof };
      });
    // Settled by next() or drain(); until then a failure must not count as unhandled.
    part.catch(() => {});
    ahead.push(part);
    asked += limit;
  };
  return {
    async next(): Promise<Part | "damaged"> {
      while (ahead.length < Math.max(1, options.inFlight) && (asked < size || ahead.length === 0)) {
        if (asked > size + limit) throw new Error(`the worker served past the file's ${size} bytes`);
        ask();
      }
      // The loop above leaves at least one part asked for.
      return ahead.shift()!;
    },
    /** Waits for the parts asked for ahead, whatever they bring. */
    async drain(): Promise<void> {
      await Promise.allSettled(ahead.splice(0));
    },
  };
}

/** The bytes of an earlier get's temporary file, hashed (none when there is no such file). */
async function keptBytes(temp: string): Promise<{ bytes: number; hash: Hash }> {
  const hash = createHash("sha256");
  const info = await stat(temp).catch(() => undefined);
  if (!info?.isFile() || info.size === 0) return { bytes: 0, hash };
  let bytes = 0;
  for await (const chunk of createReadStream(temp, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, hash };
}
