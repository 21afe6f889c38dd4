import { z } from "zod";
import { defineCommand } from "./define.js";
import {
  argBool,
  argCount,
  argInt,
  argsObject,
  otherVariant,
  resultInt,
  resultSize,
  resultWideInt,
} from "./scalars.js";

/* Processors, memory blocks and (Windows) device drivers. */

const logicalProcessor = z.looseObject({
  "logical-id": resultInt,
  online: z.boolean(),
  "can-offline": z.boolean().optional(),
});

export const guestGetVcpus = defineCommand({
  name: "guest-get-vcpus",
  args: argsObject({}),
  result: z.array(logicalProcessor),
  since: "1.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "The guest's logical processors, whether each is online and whether it can be taken offline.",
});

export const guestSetVcpus = defineCommand({
  name: "guest-set-vcpus",
  args: argsObject({
    vcpus: z.array(
      // can-offline is accepted and ignored on input, as the schema says.
      argsObject({ "logical-id": argInt(), online: argBool(), "can-offline": argBool().optional() }),
    ),
  }),
  result: resultInt,
  since: "1.5",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Bring logical processors online or offline; returns how many entries were applied, in order.",
});

const memoryBlock = z.looseObject({
  "phys-index": resultSize,
  online: z.boolean(),
  "can-offline": z.boolean().optional(),
});

export const guestGetMemoryBlocks = defineCommand({
  name: "guest-get-memory-blocks",
  args: argsObject({}),
  result: z.array(memoryBlock),
  since: "2.3",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "The guest's memory blocks, whether each is online and whether it can be taken offline.",
});

export const guestSetMemoryBlocks = defineCommand({
  name: "guest-set-memory-blocks",
  args: argsObject({
    "mem-blks": z.array(
      argsObject({ "phys-index": argCount(), online: argBool(), "can-offline": argBool().optional() }),
    ),
  }),
  result: z.array(
    z.looseObject({
      "phys-index": resultSize,
      response: z.enum(["success", "not-found", "operation-not-supported", "operation-failed"]),
      "error-code": resultInt.optional(),
    }),
  ),
  since: "2.3",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: false,
  description: "Bring memory blocks online or offline; returns one result per entry.",
});

export const guestGetMemoryBlockInfo = defineCommand({
  name: "guest-get-memory-block-info",
  args: argsObject({}),
  result: z.looseObject({ size: resultSize }),
  since: "2.3",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Size in bytes of one guest memory block (the unit of memory hotplug).",
});

const pciDeviceId = z.looseObject({
  type: z.literal("pci"),
  "vendor-id": resultInt.min(0).max(0xffff),
  "device-id": resultInt.min(0).max(0xffff),
});

export const guestGetDevices = defineCommand({
  name: "guest-get-devices",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      "driver-name": z.string(),
      // Nanoseconds since the epoch: past 2^53.
      "driver-date": resultWideInt.optional(),
      "driver-version": z.string().optional(),
      id: z.union([pciDeviceId, otherVariant("type", ["pci"])]).optional(),
    }),
  ),
  since: "5.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Device drivers in a Windows guest (name, date, version, PCI ids); other guests refuse it.",
});
