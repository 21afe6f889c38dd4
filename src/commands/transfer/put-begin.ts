import { createHash } from "node:crypto";
import { posix, win32 } from "node:path";
import { WorkerError } from "../../errors.js";
import {
  argBool,
  argCount,
  argNonEmptyString,
  argsObject,
  describePath,
} from "../../qga/catalogue/scalars.js";
import { flavourOf, type KnownFlavour } from "../path-flavour.js";
import { argPath, authorizeFile } from "../paths.js";
import { openFile } from "../verbs/guest-file.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { looksLikeWindowsPath } from "../windows-paths.js";
import { argSha256 } from "./common.js";
import { hashFrom, lengthOf, seekSet } from "./guest-io.js";
import { CHMOD, cannotRun, MV } from "./guest-program.js";
import { closeHandle } from "./held.js";
import type { InPlaceProgress } from "./put-ledger.js";
import { newHash, type PutPlan, PutTransfer } from "./put-state.js";

const PutBeginArgs = argsObject({
  path: argPath(),
  size: argCount(),
  sha256: argSha256(),
  mode: argNonEmptyString()
    .regex(/^[0-7]{3,4}$/, {
      error: (iss) => `${describePath(iss.path)} must be an octal mode such as "0644"`,
    })
    .optional(),
  atomic: argBool().default(true),
});

/** The id of a put: the same file to the same path of the same VM gets the same id, so a begin resumes. */
export function putId(vm: string, path: string, size: number, sha256: string): string {
  return createHash("sha256").update(`${vm}\0${path}\0${size}\0${sha256}`).digest("hex").slice(0, 16);
}

/**
 * Begins (or resumes) writing a file of `size` bytes whose sha256 is `sha256`: to a temporary file beside
 * `path` that put-end renames over it (atomic, the default), or to `path` itself. What an earlier try
 * left in the temporary file is kept and read back to rebuild the running sha256: `received` says how
 * much, and the parts go on from there.
 */
export const putBegin = defineVerb({
  name: "put-begin",
  set: "files",
  args: PutBeginArgs,
  async run(context, args) {
    const { files } = context.restriction;
    const flavour = guestFlavour(await flavourOf(context.agent), files, args.path);
    const path = authorizeFile(args.path, files, context.vm, flavour);
    const paths = flavour === "windows" ? win32 : posix;
    const name = paths.basename(path);
    if (path === "/" || name === "") {
      throw new WorkerError("invalid_arguments", "args.path: must name a file, not the root directory");
    }
    if (args.size > context.limits.transferBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `args.size: ${args.size} bytes, over the limit of ${context.limits.transferBytes} (limits.transferBytes)`,
      );
    }
    const id = putId(context.vm, path, args.size, args.sha256);
    const temp = args.atomic ? paths.join(paths.dirname(path), `.${name}.${id}.qga-part`) : path;
    authorizeFile(temp, files, context.vm, flavour);
    if (flavour === "windows") windowsLimits(args.atomic, args.mode, path);
    needsPrograms(context, args.atomic, args.mode, path);
    const plan: PutPlan = {
      id,
      path,
      temp,
      size: args.size,
      sha256: args.sha256,
      atomic: args.atomic,
      mode: args.mode,
    };
    return context.transfers.beginOnce(id, async () => {
      const held = context.transfers.peek(id);
      if (held instanceof PutTransfer) {
        if (held.plan.atomic !== plan.atomic || held.plan.mode !== plan.mode) {
          throw new WorkerError(
            "invalid_arguments",
            `transfer ${id} is under way with atomic ${held.plan.atomic} and mode ${held.plan.mode ?? "unset"}; ` +
              "end it, or abort it with transfer-abort, before beginning it otherwise",
          );
        }
        context.transfers.find(id, "put");
        return answer(context, held);
      }
      context.transfers.checkRoom();
      const transfer = await open(context, plan);
      context.transfers.add(transfer);
      return answer(context, transfer);
    });
  },
});

function answer(context: VerbContext, transfer: PutTransfer) {
  return {
    transfer: transfer.id,
    part_bytes: context.limits.transferPartBytes,
    received: transfer.received,
    temp: transfer.plan.temp,
  };
}

/**
 * The flavour the paths are built with. Without restrictions.files the worker does not ask the guest's
 * OS; a path with a drive letter is then a Windows guest's (on Linux it would be a relative name).
 */
function guestFlavour(
  restricted: KnownFlavour,
  files: readonly string[] | undefined,
  path: string,
): KnownFlavour {
  return restricted === "posix" && files === undefined && looksLikeWindowsPath(path) ? "windows" : restricted;
}

/**
 * A Windows guest has no /bin/mv or /bin/chmod. A rename would go through cmd.exe /c move, and allowing
 * cmd.exe for exec lets exec run anything: an atomic put is not offered there, nor a mode.
 */
function windowsLimits(atomic: boolean, mode: string | undefined, path: string): void {
  if (atomic) {
    throw new WorkerError(
      "unsupported",
      `${path} is on a Windows guest, which has no ${MV} to rename a finished file into place; ` +
        `send "atomic": false to write it in place instead (qga-mqtt cp --in-place)`,
      { details: { atomic_unavailable: true } },
    );
  }
  if (mode !== undefined) {
    throw new WorkerError(
      "unsupported",
      `mode is a POSIX permission: leave it out for ${path} on a Windows guest`,
    );
  }
}

/** `unsupported` at the start rather than at the end, when the rename or the chmod could not run. */
function needsPrograms(context: VerbContext, atomic: boolean, mode: string | undefined, path: string) {
  const renaming = atomic ? cannotRun(context, MV) : undefined;
  if (renaming !== undefined) {
    throw new WorkerError(
      "unsupported",
      `${renaming}: an atomic put renames the finished file over ${path} with ${MV} through guest-exec; ` +
        `send "atomic": false to write ${path} in place instead`,
      { details: { atomic_unavailable: true } },
    );
  }
  const chmod = mode !== undefined ? cannotRun(context, CHMOD) : undefined;
  if (chmod !== undefined) {
    throw new WorkerError(
      "unsupported",
      `${chmod}: mode is applied with ${CHMOD} through guest-exec; leave mode out (and set it otherwise)`,
    );
  }
}

/**
 * Opens the file the parts go to, and says how much of it is kept. Atomic: the temporary file, kept when
 * it holds a beginning of the file (its length at most `size`, and the whole file's sha256 when complete),
 * whose bytes are read back into the running sha256. Not atomic: `path` itself, kept only as far as the
 * worker's own record says it acknowledged and the guest's bytes still hash to that record (see
 * put-ledger.ts). Otherwise emptied.
 */
async function open(context: VerbContext, plan: PutPlan): Promise<PutTransfer> {
  const ledger = context.transfers.ledger;
  const fresh = async () => {
    if (!plan.atomic) ledger?.forget(plan.id);
    const handle = await openFile(context, plan.temp, "w");
    return new PutTransfer(plan, handle, 0, newHash(), context.agent, context.log);
  };
  const record = plan.atomic ? undefined : ledger?.recall(plan.id);
  const kept = plan.atomic ? await keptBeginning(context, plan) : await keptInPlace(context, plan, record);
  if (kept === undefined) {
    if (plan.atomic || record !== undefined) {
      context.log.info(
        { transfer: plan.id },
        plan.atomic
          ? "a put's temporary file does not fit the file declared: starting over"
          : "an in-place put's file no longer holds what was acknowledged: starting over",
      );
    }
    return fresh();
  }
  // Written through a handle without O_APPEND ("a+" has it): bytes that a handle of a killed worker still
  // buffers in the agent, flushed later, then land where they belong (the same bytes), not at the end.
  const handle = await openFile(context, plan.temp, "r+");
  try {
    await seekSet(context, handle, kept.length);
  } catch (error) {
    await closeHandle(context.agent, context.log, handle);
    throw error;
  }
  return new PutTransfer(plan, handle, kept.length, kept.hash, context.agent, context.log);
}

/**
 * What an in-place put acknowledged before the worker restarted: the record's length and hash, when
 * `path` is at least that long, no longer than `size`, and its first `received` bytes hash to the record.
 * Bytes after them (written, not acknowledged) are written again.
 */
async function keptInPlace(context: VerbContext, plan: PutPlan, record: InPlaceProgress | undefined) {
  if (record === undefined || record.received <= 0 || record.received > plan.size) return undefined;
  let handle: number;
  try {
    handle = await openFile(context, plan.temp, "r");
  } catch {
    return undefined;
  }
  try {
    const length = await lengthOf(context, handle);
    if (length < record.received || length > plan.size) return undefined;
    await seekSet(context, handle, 0);
    const hash = newHash();
    if ((await hashFrom(context, handle, record.received, hash)) !== record.received) return undefined;
    if (hash.copy().digest("hex") !== record.sha256) return undefined;
    return { length: record.received, hash };
  } finally {
    await closeHandle(context.agent, context.log, handle);
  }
}

/**
 * The temporary file's length and the sha256 of its bytes, opened "a+" so that it is created when
 * missing; undefined when it cannot be the beginning of the file declared.
 */
async function keptBeginning(context: VerbContext, plan: PutPlan) {
  const handle = await openFile(context, plan.temp, "a+");
  try {
    const length = await lengthOf(context, handle);
    if (length > plan.size) return undefined;
    const hash = newHash();
    if (length > 0) {
      await seekSet(context, handle, 0);
      if ((await hashFrom(context, handle, length, hash)) !== length) return undefined;
      if (length === plan.size && hash.copy().digest("hex") !== plan.sha256) return undefined;
    }
    return { length, hash };
  } finally {
    await closeHandle(context.agent, context.log, handle);
  }
}
