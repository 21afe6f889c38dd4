import { z } from "zod";
import { defineCommand } from "./define.js";
import { argsObject, resultCounter, resultInt } from "./scalars.js";

/* Guest network interfaces and routes. */

const ipAddress = z.looseObject({
  "ip-address": z.string(),
  "ip-address-type": z.enum(["ipv4", "ipv6"]),
  prefix: resultInt,
});

const interfaceStatistics = z.looseObject({
  "rx-bytes": resultCounter,
  "rx-packets": resultCounter,
  "rx-errs": resultCounter,
  "rx-dropped": resultCounter,
  "tx-bytes": resultCounter,
  "tx-packets": resultCounter,
  "tx-errs": resultCounter,
  "tx-dropped": resultCounter,
});

export const guestNetworkGetInterfaces = defineCommand({
  name: "guest-network-get-interfaces",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      name: z.string(),
      "hardware-address": z.string().optional(),
      "ip-addresses": z.array(ipAddress).optional(),
      statistics: interfaceStatistics.optional(),
    }),
  ),
  since: "1.1",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest network interfaces with MAC, IP addresses and traffic counters.",
});

export const guestNetworkGetRoute = defineCommand({
  name: "guest-network-get-route",
  args: argsObject({}),
  result: z.array(
    z.looseObject({
      iface: z.string(),
      destination: z.string(),
      metric: resultInt,
      gateway: z.string().optional(),
      mask: z.string().optional(),
      irtt: resultInt.optional(),
      flags: resultCounter.optional(),
      refcnt: resultInt.optional(),
      use: resultInt.optional(),
      window: resultInt.optional(),
      mtu: resultInt.optional(),
      desprefixlen: z.string().optional(),
      source: z.string().optional(),
      srcprefixlen: z.string().optional(),
      nexthop: z.string().optional(),
      version: resultInt,
    }),
  ),
  since: "9.1",
  replies: true,
  allowedWhileFrozen: false,
  readOnly: true,
  description: "Guest routing table, IPv4 and IPv6 (Linux since 9.1, Windows since 11.0).",
});
