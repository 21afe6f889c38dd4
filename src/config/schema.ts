import os from "node:os";
import { z } from "zod";
import { isLoopback, parseListen } from "../dashboard/listen.js";
import { LOG_FORMATS } from "../log-format.js";
import { Mqtt } from "./broker.js";
import { Policy, Restrictions } from "./command-policy.js";
import { Metrics } from "./guest-metrics.js";
import { Agent, Limits } from "./limits.js";
import { TopicLevel } from "./topic-level.js";
import { Discovery, StaticVm } from "./vm-sources.js";

/**
 * The whole configuration as one zod schema: the YAML file, with environment overrides merged in
 * (config/load.ts), is parsed by `Config` and nothing else. The JSON Schema for editors is generated from
 * it (`qga-mqtt schema`), never written by hand. Every section may be left out: `.prefault({})` parses an
 * absent section as `{}`, so its defaults are written once, on its own keys.
 */

export type { Restriction, Restrictions } from "./command-policy.js";
export { PolicyList, PolicySetName } from "./command-policy.js";
export type { MetricsConfig } from "./guest-metrics.js";
export { PSEUDO_FS_TYPES, PSEUDO_MOUNTPOINTS, VIRTUAL_INTERFACES } from "./guest-metrics.js";
export { TopicLevel, VmName } from "./topic-level.js";
export type { GlobSource, LibvirtSource, ProxmoxSource, StaticVm } from "./vm-sources.js";
export { Connection } from "./vm-sources.js";

/** The worker id when none is set: the host name, made one clean topic level. */
const HOST_WORKER_ID = os.hostname().replace(/[/+#$\s]/g, "_");

/** `host:port` or `[v6]:port`, as `http.listen` takes it. */
const LISTEN = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/;

/**
 * Why the console cannot be served on `listen` (the words follow "✖ http.ui (line N): "). The page carries
 * each person's broker password and the worker's HTTP server has no TLS, so only loopback is allowed: the
 * rule of `qga-mqtt dashboard --listen` without its certificate options.
 */
function uiListenProblem(listen: string | undefined): string | undefined {
  if (listen === undefined)
    return "serves the console on http.listen, which is unset: set http.listen too, e.g. 127.0.0.1:9883";
  // A listen of the wrong shape has its own problem already.
  if (!LISTEN.test(listen)) return undefined;
  // The dashboard's reading of an address (its --listen rule is the same): what it cannot read is no loopback.
  const address = parseListen(listen);
  if (typeof address !== "string" && isLoopback(address.host)) return undefined;
  return (
    `serves the console, which carries each person's broker password, so http.listen must be a loopback ` +
    `address (127.0.0.1, [::1] or localhost), not ${listen}: the worker's HTTP server has no TLS. Bind ` +
    "http.listen to loopback, or serve the console with qga-mqtt dashboard --tls-cert FILE --tls-key FILE"
  );
}

const Status = z.strictObject({
  intervalSeconds: z.number().min(1).max(86_400).default(30),
  heartbeatSeconds: z.number().min(1).max(86_400).default(300),
});

export const Config = z.strictObject({
  worker: z.strictObject({ id: TopicLevel.default(HOST_WORKER_ID) }).prefault({}),
  mqtt: Mqtt.prefault({}),
  vms: z.array(StaticVm).default([]),
  discovery: Discovery.prefault({}),
  policy: Policy.prefault({}),
  restrictions: Restrictions.prefault({}),
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
    .prefault({}),
  status: Status.prefault({}),
  limits: Limits.prefault({}),
  agent: Agent.prefault({}),
  homeassistant: z
    .strictObject({
      enabled: z.boolean().default(false).describe("announce every VM to Home Assistant by MQTT discovery"),
      discoveryPrefix: TopicLevel.default("homeassistant"),
    })
    .prefault({}),
  http: z
    .strictObject({
      listen: z
        .string()
        .regex(LISTEN, { error: "must be host:port, e.g. 127.0.0.1:9883" })
        .optional()
        .describe("address of /healthz and /metrics (Prometheus); unset: no HTTP server"),
      ui: z
        .boolean()
        .default(false)
        .describe(
          "also serve the fleet console (as `qga-mqtt dashboard` does) under /ui/ of http.listen; loopback only",
        ),
    })
    .superRefine((http, ctx) => {
      if (!http.ui) return;
      const problem = uiListenProblem(http.listen);
      if (problem) ctx.addIssue({ code: "custom", path: ["ui"], message: problem });
    })
    .prefault({}),
  metrics: Metrics.prefault({}),
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
    .prefault({}),
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
    .prefault({}),
});
export type Config = z.infer<typeof Config>;
