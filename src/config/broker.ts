import { z } from "zod";
import { BrokerUrl } from "./broker-url.js";
import { TopicLevel } from "./topic-level.js";

/** How the worker reaches the MQTT broker, and where its topics live there. */

const Tls = z.strictObject({
  ca: z.string().optional().describe("path of the CA certificate(s) to trust"),
  cert: z.string().optional().describe("path of the client certificate"),
  key: z.string().optional().describe("path of the client key"),
  keyPassphrase: z.string().optional(),
  keyPassphraseFile: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

export const Mqtt = z.strictObject({
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
  tls: Tls.prefault({}),
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
