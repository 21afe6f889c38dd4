import { z } from "zod";

/** A list of regular expressions (JavaScript syntax), each checked to compile. */
const Patterns = z.array(
  z.string().refine(
    (s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
    { error: "must be a valid regular expression" },
  ),
);

/** Which names become label values: included (all when empty), not excluded, at most `max` per VM. */
const NameFilter = (exclude: string[], max: number) =>
  z.strictObject({
    include: Patterns.default([]).describe("regular expressions; empty: every name"),
    exclude: Patterns.default(exclude).describe("regular expressions; a name matching one is left out"),
    max: z
      .number()
      .int()
      .min(0)
      .max(1024)
      .default(max)
      .describe("at most this many per VM, in the agent's order"),
  });

export const PSEUDO_MOUNTPOINTS = [
  "^/(proc|sys|dev|run)(/|$)",
  "^/snap/",
  "^/var/lib/(docker|containers|kubelet)/",
];
export const PSEUDO_FS_TYPES = ["^(squashfs|iso9660|udf|tmpfs|devtmpfs|overlay|nsfs|autofs|fuse\\..*)$"];
export const VIRTUAL_INTERFACES = [
  "^(veth|docker|br-|virbr|vnet|tap|tun|cali|flannel|cni|kube-|lxc|ifb|dummy)",
];

/** The guest metrics on /metrics (qga_guest_*): which mount points and interfaces get series. */
export const Metrics = z.strictObject({
  mountpoints: NameFilter(PSEUDO_MOUNTPOINTS, 32).prefault({}),
  fsTypes: z
    .strictObject({ exclude: Patterns.default(PSEUDO_FS_TYPES) })
    .prefault({})
    .describe("filesystem types left out (matched against the whole type)"),
  interfaces: NameFilter(VIRTUAL_INTERFACES, 16).prefault({}),
});
export type MetricsConfig = z.infer<typeof Metrics>;
