import os from "node:os";
import { z } from "zod";
import { LOG_FORMATS } from "../log-format.js";
import { BrokerUrl } from "./broker-url.js";

/**
 * The whole configuration as one zod schema: the YAML file, with environment overrides merged in
 * (config/load.ts), is parsed by `Config` and nothing else. The JSON Schema for editors is generated from
 * it (`qga-mqtt schema`), never written by hand.
 */

/** A single MQTT topic level that can name a VM, a group or a worker (shared/spec/mqtt-api.md). */
export const TopicLevel = z
  .string()
  .min(1, { error: "must not be empty" })
  .max(128, { error: "must be at most 128 characters" })
  .refine((s) => !/[/+#]/.test(s), { error: "must not contain '/', '+' or '#' (it is one MQTT topic level)" })
  .refine((s) => !s.startsWith("$"), { error: "must not start with '$' (reserved by brokers)" })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { error: "must not contain control characters" });

const RESERVED_VM_NAMES = new Set(["bridge", "group"]);
export const VmName = TopicLevel.refine((s) => !RESERVED_VM_NAMES.has(s), {
  error: "'bridge' and 'group' are reserved topic levels and cannot name a VM",
});

export const PolicySetName = z.enum(["read", "power", "time", "freeze", "exec", "files", "users", "all"]);
export type PolicySetName = z.infer<typeof PolicySetName>;

/** Named sets and single command or verb names, e.g. `[read, power, guest-get-fsinfo]`. */
export const PolicyList = z
  .array(z.string().min(1))
  .describe("named sets (read, power, time, freeze, exec, files, users, all) and command or verb names");

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

const StaticVm = z.strictObject({
  name: VmName,
  socket: z
    .string()
    .min(1)
    .describe("unix socket path, tcp://host:port, or libvirt:<domain> (through discovery.libvirt.uri)"),
  groups: z.array(TopicLevel).default([]),
  connection: Connection.optional(),
});

const GlobSource = z.strictObject({
  pattern: z
    .string()
    .startsWith("/", { error: "must be an absolute path pattern" })
    .refine((s) => s.includes("*"), { error: "must contain a '*' (the part that names the VM)" })
    .describe("absolute path with '*' wildcards, e.g. /run/qemu/*/qga.sock; the first '*' names the VM"),
  groups: z.array(TopicLevel).default([]),
  connection: Connection.optional(),
});

const ProxmoxSource = z.strictObject({
  enabled: z.boolean().default(false),
  socketDir: z.string().default("/var/run/qemu-server"),
  configDir: z.string().default("/etc/pve/qemu-server"),
  groups: z.array(TopicLevel).default(["proxmox"]),
  connection: Connection.default({ linger: 0 }),
});

const LibvirtSource = z.strictObject({
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

const Tls = z.strictObject({
  ca: z.string().optional().describe("path of the CA certificate(s) to trust"),
  cert: z.string().optional().describe("path of the client certificate"),
  key: z.string().optional().describe("path of the client key"),
  keyPassphrase: z.string().optional(),
  keyPassphraseFile: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

const Mqtt = z.strictObject({
  url: BrokerUrl.optional().describe(
    "broker URL; unset: 127.0.0.1:1883 if a broker answers there, else an embedded one",
  ),
  username: z.string().optional(),
  password: z.string().optional(),
  passwordFile: z.string().optional().describe("read the password from this file (Docker/systemd secrets)"),
  clientId: z.string().optional().describe("default qga-mqtt-<worker id>"),
  protocolVersion: z
    .union([z.literal(5), z.literal(4)], { error: "must be 5 (MQTT 5) or 4 (MQTT 3.1.1)" })
    .default(5)
    .describe("5 = MQTT 5, 4 = MQTT 3.1.1"),
  baseTopic: TopicLevel.default("qga"),
  keepaliveSeconds: z.number().int().min(5).max(3600).default(30),
  sessionExpirySeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(300)
    .describe("how long the broker keeps requests for the worker while it is disconnected"),
  tls: Tls.default({ rejectUnauthorized: true }),
  responseTopicPrefixes: z
    .array(
      z
        .string()
        .min(1)
        .refine((s) => !/[+#]/.test(s), { error: "must be a topic prefix without + or #" }),
    )
    .optional()
    .describe(
      "MQTT 5 Response Topics must be under one of these; never under the base topic (but <base>/bridge/<caller>/replies) or the discovery prefix",
    ),
});

const Status = z.strictObject({
  intervalSeconds: z.number().min(1).max(86_400).default(30),
  heartbeatSeconds: z.number().min(1).max(86_400).default(300),
});

const Limits = z.strictObject({
  maxPayloadBytes: z
    .number()
    .int()
    .min(256)
    .max(64 * 1024 * 1024)
    .default(256 * 1024),
  maxDepth: z.number().int().min(2).max(256).default(16),
  queueDepth: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(10_000)
    .describe("commands waiting per VM before `busy` (each also waits no longer than its own timeout)"),
  queueBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024)
    .describe("what the commands waiting for one VM may hold, all together (arguments and ~512 bytes each)"),
  defaultTimeoutSeconds: z.number().min(0.1).max(3600).default(30),
  maxTimeoutSeconds: z.number().min(0.1).max(86_400).default(300),
  execOutputBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024)
    .describe("stdout and stderr of exec, each, kept in the reply (the agent itself keeps at most 16 MiB)"),
  stdinBytes: z
    .number()
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024)
    .describe("largest exec stdin"),
  fileBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(8 * 1024 * 1024)
    .describe("largest read-file or write-file transfer (keep under the broker's message size limit)"),
  fileChunkBytes: z
    .number()
    .int()
    .min(4096)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024)
    .describe("bytes per guest-file-read/-write call (far below the agent's 64 MiB message limit)"),
  dedupeWindowSeconds: z.number().min(0).max(86_400).default(600),
  dedupeBytes: z
    .number()
    .int()
    .min(0)
    .max(4 * 1024 * 1024 * 1024)
    .default(64 * 1024 * 1024)
    .describe(
      "replies kept for repeated ids, all VMs together; past it the oldest are let go (a repeat then gets `duplicate`, never a second run)",
    ),
  dedupeReplyBytes: z
    .number()
    .int()
    .min(0)
    .max(256 * 1024 * 1024)
    .default(1024 * 1024)
    .describe("a larger reply is not kept: a repeat of its id gets `duplicate`, never a second run"),
});

const Agent = z.strictObject({
  connectTimeoutMs: z.number().int().min(100).max(60_000).default(3_000),
  syncTimeoutMs: z.number().int().min(100).max(60_000).default(3_000),
  maxReplyBytes: z
    .number()
    .int()
    .min(4096)
    .max(64 * 1024 * 1024)
    .default(24 * 1024 * 1024),
  maxInFlight: z.number().int().min(1).max(256).default(8),
});

/**
 * Limits below the command, for commands the policy allows, verbs and raw commands alike: which programs
 * `exec` and `guest-exec` may start (path globs, `*` within a path segment, `**` across segments), which
 * environment variables they may set (names or globs; loader and interpreter variables never), and which
 * paths the file verbs and `guest-file-open` may touch (prefixes, after `..` and duplicate slashes are
 * normalised). Unset: no limit beyond the policy.
 */
const Restriction = z.strictObject({
  exec: z
    .array(z.string().startsWith("/", { error: "must be an absolute path glob" }))
    .optional()
    .describe("programs exec may start: absolute path globs; never a shell, interpreter or script"),
  env: z
    .array(
      z
        .string()
        .regex(/^[^=\s]+$/, { error: "must be a variable name or a glob over names (no '=' or spaces)" }),
    )
    .optional()
    .describe(
      "environment variables a restricted exec may set (names or globs); unset: none. LD_*, BASH_ENV, PATH, PYTHON* and the like never",
    ),
  files: z
    .array(z.string().startsWith("/", { error: "must be an absolute path prefix" }))
    .optional()
    .describe("paths the file verbs and guest-file-open may touch: absolute prefixes"),
});
export type Restriction = z.infer<typeof Restriction>;

const Restrictions = z.strictObject({
  default: Restriction.default({}),
  groups: z.record(TopicLevel, Restriction).default({}),
  vms: z.record(TopicLevel, Restriction).default({}),
});
export type Restrictions = z.infer<typeof Restrictions>;

const Policy = z.strictObject({
  default: PolicyList.default(["read"]),
  groups: z.record(TopicLevel, PolicyList).default({}),
  vms: z.record(TopicLevel, PolicyList).default({}),
});

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
const Metrics = z.strictObject({
  mountpoints: NameFilter(PSEUDO_MOUNTPOINTS, 32).default({
    include: [],
    exclude: PSEUDO_MOUNTPOINTS,
    max: 32,
  }),
  fsTypes: z
    .strictObject({ exclude: Patterns.default(PSEUDO_FS_TYPES) })
    .default({ exclude: PSEUDO_FS_TYPES })
    .describe("filesystem types left out (matched against the whole type)"),
  interfaces: NameFilter(VIRTUAL_INTERFACES, 16).default({
    include: [],
    exclude: VIRTUAL_INTERFACES,
    max: 16,
  }),
});
export type MetricsConfig = z.infer<typeof Metrics>;

export const Config = z.strictObject({
  worker: z
    .strictObject({ id: TopicLevel.default(os.hostname().replace(/[/+#$\s]/g, "_")) })
    .default({ id: os.hostname().replace(/[/+#$\s]/g, "_") }),
  mqtt: Mqtt.default(Mqtt.parse({})),
  vms: z.array(StaticVm).default([]),
  discovery: z
    .strictObject({
      globs: z.array(GlobSource).default([]),
      proxmox: ProxmoxSource.default(ProxmoxSource.parse({})),
      libvirt: LibvirtSource.default(LibvirtSource.parse({})),
      rescanSeconds: z.number().min(0.2).max(3600).default(5),
    })
    .default({
      globs: [],
      proxmox: ProxmoxSource.parse({}),
      libvirt: LibvirtSource.parse({}),
      rescanSeconds: 5,
    }),
  policy: Policy.default(Policy.parse({})),
  restrictions: Restrictions.default(Restrictions.parse({})),
  fsfreeze: z
    .strictObject({
      maxSeconds: z
        .number()
        .min(1)
        .max(3600)
        .default(60)
        .describe(
          "a freeze not thawed within this time is thawed by the worker (a frozen guest is an outage)",
        ),
    })
    .default({ maxSeconds: 60 }),
  status: Status.default(Status.parse({})),
  limits: Limits.default(Limits.parse({})),
  agent: Agent.default(Agent.parse({})),
  homeassistant: z
    .strictObject({
      enabled: z.boolean().default(false).describe("announce every VM to Home Assistant by MQTT discovery"),
      discoveryPrefix: TopicLevel.default("homeassistant"),
    })
    .default({ enabled: false, discoveryPrefix: "homeassistant" }),
  http: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, { error: "must be host:port, e.g. 127.0.0.1:9883" })
        .optional()
        .describe("address of /healthz and /metrics (Prometheus); unset: no HTTP server"),
    })
    .default({}),
  metrics: Metrics.default(Metrics.parse({})),
  state: z
    .strictObject({
      dir: z
        .string()
        .min(1)
        .optional()
        .describe(
          "folder for what survives a restart (the request journal); unset: $STATE_DIRECTORY (systemd), else ~/.local/state/qga-mqtt",
        ),
      journal: z
        .boolean()
        .default(true)
        .describe(
          "journal the ids of commands that change a guest, so that a retry after a crash never runs twice",
        ),
    })
    .default({ journal: true }),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      format: z
        .enum(LOG_FORMATS)
        .optional()
        .describe(
          "pretty: one line per entry for a person (time, level, message); json: one JSON object per line; unset: pretty when stdout is a terminal, else json",
        ),
    })
    .default({ level: "info" }),
});
export type Config = z.infer<typeof Config>;
export type StaticVm = z.infer<typeof StaticVm>;
export type GlobSource = z.infer<typeof GlobSource>;
export type ProxmoxSource = z.infer<typeof ProxmoxSource>;
export type LibvirtSource = z.infer<typeof LibvirtSource>;
