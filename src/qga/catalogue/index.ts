import type { z } from "zod";
import type { CommandSpec } from "./define.js";
import { guestExec, guestExecStatus } from "./exec.js";
import {
  guestFileClose,
  guestFileFlush,
  guestFileOpen,
  guestFileRead,
  guestFileSeek,
  guestFileWrite,
} from "./files.js";
import {
  guestFsfreezeFreeze,
  guestFsfreezeFreezeList,
  guestFsfreezeStatus,
  guestFsfreezeThaw,
  guestFstrim,
} from "./freeze.js";
import {
  guestGetDevices,
  guestGetMemoryBlockInfo,
  guestGetMemoryBlocks,
  guestGetVcpus,
  guestSetMemoryBlocks,
  guestSetVcpus,
} from "./hardware.js";
import { guestGetCpustats, guestGetLoad } from "./load.js";
import { guestNetworkGetInterfaces, guestNetworkGetRoute } from "./network.js";
import { guestShutdown, guestSuspendDisk, guestSuspendHybrid, guestSuspendRam } from "./power.js";
import { guestSshAddAuthorizedKeys, guestSshGetAuthorizedKeys, guestSshRemoveAuthorizedKeys } from "./ssh.js";
import { guestGetDisks, guestGetDiskstats, guestGetFsinfo } from "./storage.js";
import {
  guestGetHostName,
  guestGetOsinfo,
  guestGetTime,
  guestGetTimezone,
  guestInfo,
  guestPing,
  guestSetTime,
  guestSync,
  guestSyncDelimited,
} from "./system.js";
import { guestGetUsers, guestSetUserPassword } from "./users.js";

export type { CommandSpec } from "./define.js";
export { compareQemuVersions, defineCommand } from "./define.js";
export { describePath } from "./scalars.js";

/** Every command of QEMU's qga/qapi-schema.json (QEMU 10.x), keyed by its wire name, in schema order. */
export const catalogue = Object.freeze({
  "guest-sync-delimited": guestSyncDelimited,
  "guest-sync": guestSync,
  "guest-ping": guestPing,
  "guest-get-time": guestGetTime,
  "guest-set-time": guestSetTime,
  "guest-info": guestInfo,
  "guest-shutdown": guestShutdown,
  "guest-file-open": guestFileOpen,
  "guest-file-close": guestFileClose,
  "guest-file-read": guestFileRead,
  "guest-file-write": guestFileWrite,
  "guest-file-seek": guestFileSeek,
  "guest-file-flush": guestFileFlush,
  "guest-fsfreeze-status": guestFsfreezeStatus,
  "guest-fsfreeze-freeze": guestFsfreezeFreeze,
  "guest-fsfreeze-freeze-list": guestFsfreezeFreezeList,
  "guest-fsfreeze-thaw": guestFsfreezeThaw,
  "guest-fstrim": guestFstrim,
  "guest-suspend-disk": guestSuspendDisk,
  "guest-suspend-ram": guestSuspendRam,
  "guest-suspend-hybrid": guestSuspendHybrid,
  "guest-network-get-interfaces": guestNetworkGetInterfaces,
  "guest-get-vcpus": guestGetVcpus,
  "guest-set-vcpus": guestSetVcpus,
  "guest-get-disks": guestGetDisks,
  "guest-get-fsinfo": guestGetFsinfo,
  "guest-set-user-password": guestSetUserPassword,
  "guest-get-memory-blocks": guestGetMemoryBlocks,
  "guest-set-memory-blocks": guestSetMemoryBlocks,
  "guest-get-memory-block-info": guestGetMemoryBlockInfo,
  "guest-exec-status": guestExecStatus,
  "guest-exec": guestExec,
  "guest-get-host-name": guestGetHostName,
  "guest-get-users": guestGetUsers,
  "guest-get-timezone": guestGetTimezone,
  "guest-get-osinfo": guestGetOsinfo,
  "guest-get-devices": guestGetDevices,
  "guest-ssh-get-authorized-keys": guestSshGetAuthorizedKeys,
  "guest-ssh-add-authorized-keys": guestSshAddAuthorizedKeys,
  "guest-ssh-remove-authorized-keys": guestSshRemoveAuthorizedKeys,
  "guest-get-diskstats": guestGetDiskstats,
  "guest-get-cpustats": guestGetCpustats,
  "guest-get-load": guestGetLoad,
  "guest-network-get-route": guestNetworkGetRoute,
} as const);

export type CommandName = keyof typeof catalogue;
export type ArgsOf<K extends CommandName> = z.input<(typeof catalogue)[K]["args"]>;
export type ResultOf<K extends CommandName> = z.output<(typeof catalogue)[K]["result"]>;

export const commandNames: readonly CommandName[] = Object.freeze(Object.keys(catalogue) as CommandName[]);

/** Exact, case-sensitive, own keys only: "__proto__" or "constructor" must never pass for a command. */
export function isCommandName(name: string): name is CommandName {
  return typeof name === "string" && Object.hasOwn(catalogue, name);
}

export function lookupCommand(name: string): CommandSpec | undefined {
  return isCommandName(name) ? catalogue[name] : undefined;
}
