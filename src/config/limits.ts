import { z } from "zod";

/** What one request, one VM's queue and one agent's replies may cost, and how long things may take. */

export const Limits = z.strictObject({
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
  transferBytes: z
    .number()
    .int()
    .min(0)
    .max(16 * 1024 ** 4)
    .default(64 * 1024 ** 3)
    .describe("largest file one transfer (put-begin/get-begin, `qga-mqtt cp`) may move"),
  transferPartBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .max(16 * 1024 * 1024)
    .default(1024 * 1024)
    .describe(
      "largest part of a transfer (put-part, get-part); the MQTT payload of a part is its base64 (~4/3) plus the envelope",
    ),
  transfersPerVm: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(8)
    .describe("transfers held at once per VM, each with an open file handle in the guest (`busy` beyond)"),
  transferIdleSeconds: z
    .number()
    .min(1)
    .max(86_400)
    .default(600)
    .describe("a transfer idle this long is forgotten and its handle closed (a put's temporary file stays)"),
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

export const Agent = z.strictObject({
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
