import { z } from "zod";
import { defineCommand } from "./define.js";
import { argsObject, otherVariant, resultCounter, resultInt, resultSize } from "./scalars.js";

/* Disks, mounted filesystems and block I/O statistics. */

/**
 * GuestDiskBusType as of QEMU 10. Results take any string for it: the list has grown before (2.4, and
 * "nvme" in 7.1), and a disk on a new bus should still be reported.
 */
export const DISK_BUS_TYPES = [
  "ide",
  "fdc",
  "scsi",
  "virtio",
  "xen",
  "usb",
  "uml",
  "sata",
  "sd",
  "unknown",
  "ieee1394",
  "ssa",
  "fibre",
  "raid",
  "iscsi",
  "sas",
  "mmc",
  "virtual",
  "file-backed-virtual",
  "nvme",
] as const;

// Members are -1 when the controller has no valid PCI address.
const pciAddress = z.looseObject({ domain: resultInt, bus: resultInt, slot: resultInt, function: resultInt });

const ccwAddress = z.looseObject({ cssid: resultInt, ssid: resultInt, subchno: resultInt, devno: resultInt });

const diskAddress = z.looseObject({
  "pci-controller": pciAddress,
  "bus-type": z.string(),
  bus: resultInt,
  target: resultInt,
  unit: resultInt,
  serial: z.string().optional(),
  dev: z.string().optional(),
  "ccw-address": ccwAddress.optional(),
});

// The 128-bit NVMe counters arrive as -lo/-hi uint64 halves.
const nvmeSmart = z.looseObject({
  type: z.literal("nvme"),
  "critical-warning": resultInt,
  temperature: resultInt,
  "available-spare": resultInt,
  "available-spare-threshold": resultInt,
  "percentage-used": resultInt,
  "data-units-read-lo": resultCounter,
  "data-units-read-hi": resultCounter,
  "data-units-written-lo": resultCounter,
  "data-units-written-hi": resultCounter,
  "host-read-commands-lo": resultCounter,
  "host-read-commands-hi": resultCounter,
  "host-write-commands-lo": resultCounter,
  "host-write-commands-hi": resultCounter,
  "controller-busy-time-lo": resultCounter,
  "controller-busy-time-hi": resultCounter,
  "power-cycles-lo": resultCounter,
  "power-cycles-hi": resultCounter,
  "power-on-hours-lo": resultCounter,
  "power-on-hours-hi": resultCounter,
  "unsafe-shutdowns-lo": resultCounter,
  "unsafe-shutdowns-hi": resultCounter,
  "media-errors-lo": resultCounter,
  "media-errors-hi": resultCounter,
  "number-of-error-log-entries-lo": resultCounter,
  "number-of-error-log-entries-hi": resultCounter,
});

export const guestGetDisks = defineCommand({
  name: "guest-get-disks",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      name: z.string(),
      partition: z.boolean(),
      dependencies: z.array(z.string()).optional(),
      address: diskAddress.optional(),
      alias: z.string().optional(),
      smart: z.union([nvmeSmart, otherVariant("type", ["nvme"])]).optional(),
    }),
  ),
  since: "5.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest disks and partitions with their dependencies, bus address, alias and NVMe SMART data.",
});

export const guestGetFsinfo = defineCommand({
  name: "guest-get-fsinfo",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      name: z.string(),
      mountpoint: z.string(),
      type: z.string(),
      "used-bytes": resultSize.optional(),
      "total-bytes": resultSize.optional(),
      "total-bytes-privileged": resultSize.optional(),
      disk: z.array(diskAddress),
    }),
  ),
  since: "2.2",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Mounted local filesystems: mount point, type, usage and the disks beneath each.",
});

const counter = resultCounter.optional();

// Every counter is optional: older kernels lack the discard and flush columns.
const diskStats = z.looseObject({
  "read-sectors": counter,
  "read-ios": counter,
  "read-merges": counter,
  "write-sectors": counter,
  "write-ios": counter,
  "write-merges": counter,
  "discard-sectors": counter,
  "discard-ios": counter,
  "discard-merges": counter,
  "flush-ios": counter,
  "read-ticks": counter,
  "write-ticks": counter,
  "discard-ticks": counter,
  "flush-ticks": counter,
  "ios-pgr": counter,
  "total-ticks": counter,
  "weight-ticks": counter,
});

export const guestGetDiskstats = defineCommand({
  name: "guest-get-diskstats",
  args: argsObject({}),
  result: z.array(
    z.looseObject({ name: z.string(), major: resultSize, minor: resultSize, stats: diskStats }),
  ),
  since: "7.1",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Per-disk I/O counters from /proc/diskstats (Linux guests).",
});
