import { z } from "zod";
import { isReservedVmLevel, RESERVED_VM_LEVELS } from "../mqtt/topics.js";

/** A single MQTT topic level that can name a VM, a group or a worker (shared/spec/mqtt-api.md). */
export const TopicLevel = z
  .string()
  .min(1, { error: "must not be empty" })
  .max(128, { error: "must be at most 128 characters" })
  .refine((s) => !/[/+#]/.test(s), { error: "must not contain '/', '+' or '#' (it is one MQTT topic level)" })
  .refine((s) => !s.startsWith("$"), { error: "must not start with '$' (reserved by brokers)" })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { error: "must not contain control characters" });

export const VmName = TopicLevel.refine((s) => !isReservedVmLevel(s), {
  error: `${RESERVED_VM_LEVELS.map((level) => `'${level}'`).join(" and ")} are reserved topic levels and cannot name a VM`,
});
