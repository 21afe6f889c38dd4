import type { StaticVm } from "../../config/schema.js";
import { DEFAULT_CONNECTION, type SourceResult, uniqueGroups } from "../vm.js";

/**
 * The VMs listed under `vms:` in the config. They are always served, whether or not their socket exists
 * yet: the agent client waits for it and reports the VM offline meanwhile. Nothing on disk is read, so
 * there is nothing to watch and no problem to find here (names are checked by the config schema and
 * again, with the other sources, in scan.ts).
 */
export async function staticVms(vms: readonly StaticVm[]): Promise<SourceResult> {
  return {
    vms: vms.map((vm, index) => ({
      name: vm.name,
      address: vm.socket,
      groups: uniqueGroups(vm.groups),
      connection: vm.connection ?? DEFAULT_CONNECTION,
      source: `vms[${index}] in the config`,
      kind: "static",
    })),
    problems: [],
    folders: [],
  };
}
