import type { GlobSource } from "../../config/schema.js";
import { globSockets } from "../glob.js";
import { DEFAULT_CONNECTION, type SourceResult, uniqueGroups, type VmDescriptor } from "../vm.js";

/**
 * The VMs whose agent socket matches a `discovery.globs` pattern right now; the first `*` names the VM.
 * Only existing sockets count: a VM appears when its QEMU creates the socket. Keeping a VM whose socket
 * has gone is the watcher's job (watcher.ts), not this snapshot's.
 */
export async function globVms(globs: readonly GlobSource[]): Promise<SourceResult> {
  const results = await Promise.all(globs.map((glob) => globSockets(glob.pattern)));
  const vms: VmDescriptor[] = [];
  const problems: string[] = [];
  const folders: string[] = [];
  for (const [index, glob] of globs.entries()) {
    const result = results[index]!;
    for (const match of result.matches) {
      vms.push({
        // The config schema requires a '*' in every pattern, so there is always a first star.
        name: match.stars[0] ?? "",
        address: match.path,
        groups: uniqueGroups(glob.groups),
        connection: glob.connection ?? DEFAULT_CONNECTION,
        source: `glob ${glob.pattern} (${match.path})`,
        kind: "glob",
      });
    }
    for (const where of result.unreadable) {
      problems.push(`glob ${glob.pattern} cannot read ${where}; VMs there are not found until it can`);
    }
    folders.push(...result.folders);
  }
  return { vms, problems, folders };
}
