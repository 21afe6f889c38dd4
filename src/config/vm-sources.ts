import { z } from "zod";
import { TopicLevel, VmName } from "./topic-level.js";

/** Where the VMs come from: listed by hand, found by path patterns, or from Proxmox and libvirt. */

export const Connection = z
  .union(
    [
      z.literal("hold"),
      z.strictObject({
        linger: z
          .number()
          .int()
          .min(0)
          .max(3_600_000)
          .describe("close the socket after this many ms idle; 0 = one connection per command"),
      }),
    ],
    // zod's own words for a failed union are "Invalid input": say the two forms instead.
    { error: 'must be "hold" or { linger: <ms> }' },
  )
  .describe(
    "hold: keep the agent socket open; {linger: ms}: connect per command, for sockets the host's own tools use (Proxmox)",
  );
export type Connection = z.infer<typeof Connection>;

export const StaticVm = z.strictObject({
  name: VmName,
  socket: z
    .string()
    .min(1)
    .describe("unix socket path, tcp://host:port, or libvirt:<domain> (through discovery.libvirt.uri)"),
  groups: z.array(TopicLevel).default([]),
  connection: Connection.optional(),
});

export const GlobSource = z.strictObject({
  pattern: z
    .string()
    .startsWith("/", { error: "must be an absolute path pattern" })
    .refine((s) => s.includes("*"), { error: "must contain a '*' (the part that names the VM)" })
    .describe("absolute path with '*' wildcards, e.g. /run/qemu/*/qga.sock; the first '*' names the VM"),
  groups: z.array(TopicLevel).default([]),
  connection: Connection.optional(),
});

export const ProxmoxSource = z.strictObject({
  enabled: z.boolean().default(false),
  socketDir: z.string().default("/var/run/qemu-server"),
  configDir: z.string().default("/etc/pve/qemu-server"),
  groups: z.array(TopicLevel).default(["proxmox"]),
  connection: Connection.default({ linger: 0 }),
});

export const LibvirtSource = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe("serve libvirt's domains, through libvirtd (which holds their agent sockets)"),
  uri: z
    .string()
    .regex(/^qemu(\+unix)?:\/\/\/(system|session)(\?socket=\/\S+)?$/, {
      error: "must be qemu:///system, qemu:///session or qemu+unix:///system?socket=/path",
    })
    .default("qemu:///system")
    .describe("libvirt connection URI (a local libvirtd)"),
  groups: z.array(TopicLevel).default(["libvirt"]),
});

export const Discovery = z.strictObject({
  globs: z.array(GlobSource).default([]),
  proxmox: ProxmoxSource.prefault({}),
  libvirt: LibvirtSource.prefault({}),
  rescanSeconds: z.number().min(0.2).max(3600).default(5),
});

export type StaticVm = z.infer<typeof StaticVm>;
export type GlobSource = z.infer<typeof GlobSource>;
export type ProxmoxSource = z.infer<typeof ProxmoxSource>;
export type LibvirtSource = z.infer<typeof LibvirtSource>;
