import { stat } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../cli-args.js";
import { ALL_GROUP } from "../mqtt/topics.js";
import { type CallTarget, parseTarget } from "./target.js";

/** Where a file is in the fleet: `web1:/etc/motd`, `group:web:/etc/motd`, `all:/etc/motd`. */
export interface RemoteSpec {
  readonly target: CallTarget;
  /** The path in the guest(s), as typed. */
  readonly path: string;
  /** As typed, for messages. */
  readonly text: string;
}

export type CpPlan =
  | {
      readonly direction: "put";
      readonly local: string;
      readonly remote: RemoteSpec;
      readonly mode?: string;
      /** Written over the path as it goes, not to a temporary file renamed at the end (no guest-exec). */
      readonly inPlace?: true;
    }
  | {
      readonly direction: "get";
      readonly remote: RemoteSpec & { readonly target: { kind: "vm"; vm: string } };
      readonly local: string;
      readonly mode?: string;
    };

const EXAMPLES =
  "write a VM's file as VM:/path, group:NAME:/path or all:/path, and a local file as a path " +
  "(./name for one with a colon): qga-mqtt cp ./motd web1:/etc/motd, qga-mqtt cp web1:/var/log/syslog ./";

/**
 * `VM:PATH`, `group:NAME:PATH` or `all:PATH`; undefined for a local path (no colon before its first slash:
 * `./a:b`, `/tmp/x:y` are local).
 */
export function parseRemote(text: string): RemoteSpec | undefined {
  const grouped = text.startsWith("group:");
  const rest = grouped ? text.slice("group:".length) : text;
  const colon = rest.indexOf(":");
  if (colon < 0) return undefined;
  const slash = rest.indexOf("/");
  if (slash >= 0 && slash < colon) return undefined;
  const name = rest.slice(0, colon);
  const remotePath = rest.slice(colon + 1);
  let target: CallTarget;
  try {
    target = grouped ? parseTarget(`group:${name}`) : parseTarget(name);
  } catch (error) {
    throw new UsageError(`"${text}": ${(error as Error).message}; ${EXAMPLES}`, "cp");
  }
  if (remotePath === "")
    throw new UsageError(`"${text}" names no file in the guest: write ${text}/path/to/file`, "cp");
  return { target, path: remotePath, text };
}

/**
 * SRC and DST as typed, checked before anything connects: exactly one of them in a VM, a get only from
 * one VM, a local source that is a readable file, a get's local destination folder existing. A put to a
 * path ending in `/` takes the local file's name; so does a get to a folder.
 */
export async function planCopy(
  src: string,
  dst: string,
  mode: string | undefined,
  inPlace = false,
): Promise<CpPlan> {
  const checkedMode = mode === undefined ? undefined : parseMode(mode);
  const from = parseRemote(src);
  const to = parseRemote(dst);
  if (from && to)
    throw new UsageError(
      `both "${src}" and "${dst}" are in VMs: cp copies between this machine and VMs; ${EXAMPLES}`,
      "cp",
    );
  if (!from && !to) throw new UsageError(`neither "${src}" nor "${dst}" is in a VM; ${EXAMPLES}`, "cp");
  if (to) {
    const info = await stat(src).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(
        `cannot read ${src}: ${error.code === "ENOENT" ? "no such file" : error.message}`,
        "cp",
      );
    });
    if (!info.isFile())
      throw new UsageError(`${src} is not a regular file (cp copies one file at a time)`, "cp");
    const remotePath = /[/\\]$/.test(to.path) ? `${to.path}${path.basename(src)}` : to.path;
    return {
      direction: "put",
      local: src,
      remote: { ...to, path: remotePath },
      ...(checkedMode ? { mode: checkedMode } : {}),
      ...(inPlace ? { inPlace: true as const } : {}),
    };
  }
  const remote = from!;
  if (inPlace)
    throw new UsageError(
      "--in-place is for a put (it writes the guest's file as it goes); a get always writes a temporary local file first",
      "cp",
    );
  if (remote.target.kind !== "vm") {
    const group = remote.target.group;
    const which = group === ALL_GROUP ? "all VMs" : `group ${group}`;
    throw new UsageError(
      `cp cannot get a file from ${which} (one file each would have to go somewhere): get from one VM, ` +
        `e.g. qga-mqtt cp web1:${remote.path} ./`,
      "cp",
    );
  }
  const local = await localDestination(dst, guestBaseName(remote.path));
  return {
    direction: "get",
    remote: { ...remote, target: remote.target },
    local,
    ...(checkedMode ? { mode: checkedMode } : {}),
  };
}

/** An octal mode such as 644 or 0755, as the 4-digit string put-begin takes. */
export function parseMode(text: string): string {
  if (!/^0?[0-7]{3}$/.test(text) && !/^[0-7]{4}$/.test(text))
    throw new UsageError(`--mode must be an octal file mode such as 0644 or 755, not "${text}"`, "cp");
  return text.padStart(4, "0");
}

/** The last part of a guest path, `/` or `\` separated (Windows guests). */
export function guestBaseName(guestPath: string): string {
  return guestPath.split(/[/\\]/).filter(Boolean).pop() ?? "";
}

async function localDestination(dst: string, name: string): Promise<string> {
  const info = await stat(dst).catch(() => undefined);
  const folder = info?.isDirectory() === true || /[/\\]$/.test(dst);
  if (!folder) {
    const parent = await stat(path.dirname(dst)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new UsageError(`the folder of ${dst} does not exist`, "cp");
    return dst;
  }
  if (!info?.isDirectory()) throw new UsageError(`the folder ${dst} does not exist`, "cp");
  if (name === "") throw new UsageError(`the guest path names no file to put in ${dst}`, "cp");
  return path.join(dst, name);
}
