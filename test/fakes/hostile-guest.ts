// What a guest's root can make its agent answer: a guest that names far too much (mount points, interfaces,
// addresses, users, disks by the thousand), with names that are long and full of control characters,
// quotes, template syntax and bidirectional overrides, and that renames its mounts on every poll. For the
// bounds of src/status/guest-bounds.ts, through FakeAgent's `commands` overrides.
import type { CommandHandler } from "./fake-agent.js";

/**
 * Everything a name should not carry: ANSI escapes, CR/LF/tab/NUL, DEL and a C1 control, quotes and
 * backslashes, Jinja and JSON syntax, a right-to-left override and a line separator.
 */
export const NASTY = '\u001b[31m"q"\\ {{ 7*7 }} %} \r\n\t\u0000\u007f\u0085\u202e\u2028}';

/** A name of about `length` characters that starts with `prefix` and carries NASTY near its start. */
export function longName(prefix: string, length: number): string {
  const head = `${prefix}${NASTY}`;
  return head + "x".repeat(Math.max(0, length - head.length));
}

function fsEntry(mountpoint: string, i: number): Record<string, unknown> {
  return {
    name: `vd${i}`,
    mountpoint,
    type: "ext4",
    "used-bytes": 4e9,
    "total-bytes": 1e10,
    disk: [],
  };
}

/** `count` mounts with long, hostile names (the same on every call). */
export function manyMounts(count: number, length = 400): () => unknown {
  const list = Array.from({ length: count }, (_, i) => fsEntry(longName(`/mnt/${i}/`, length), i));
  return () => list;
}

/** `count` short mounts renamed on every call (`/m/<call>/<i>`), as a guest that remounts every poll. */
export function churningMounts(count: number): { handler: CommandHandler; calls: () => number } {
  let calls = 0;
  return {
    handler: () => {
      calls++;
      return Array.from({ length: count }, (_, i) => fsEntry(`/m/${calls}/${i}`, i));
    },
    calls: () => calls,
  };
}

/**
 * `count` interfaces with long hostile names; the first `crowded` of them with `addresses` addresses each
 * (half IPv4, half IPv6), the others with one.
 */
export function manyInterfaces(count: number, crowded: number, addresses: number): () => unknown {
  const list = Array.from({ length: count }, (_, i) => ({
    name: longName(`eth${i}`, 300),
    "hardware-address": longName("02:00", 100),
    "ip-addresses": Array.from({ length: i < crowded ? addresses : 1 }, (_, j) =>
      j % 2 === 0
        ? { "ip-address": `10.${i}.${(j >> 8) & 255}.${j & 255}`, "ip-address-type": "ipv4", prefix: 16 }
        : {
            "ip-address": `fd00::${i.toString(16)}:${j.toString(16)}`,
            "ip-address-type": "ipv6",
            prefix: 64,
          },
    ),
    statistics: {
      "rx-bytes": 1,
      "rx-packets": 1,
      "rx-errs": 0,
      "rx-dropped": 0,
      "tx-bytes": 1,
      "tx-packets": 1,
      "tx-errs": 0,
      "tx-dropped": 0,
    },
  }));
  return () => list;
}

/** `count` users, the first hundred with long hostile names (all of them so would make a 7 MB reply). */
export function manyUsers(count: number): () => unknown {
  const list = Array.from({ length: count }, (_, i) => ({
    user: i < 100 ? longName(`user${i}`, 300) : `user${i}`,
    ...(i < 100 ? { domain: longName("DOMAIN", 300) } : {}),
    "login-time": 1_700_000_000 + i,
  }));
  return () => list;
}

/** `count` disks with `dependencies` each; the first ten with long hostile names throughout. */
export function manyDisks(count: number, dependencies: number): () => unknown {
  const list = Array.from({ length: count }, (_, i) => {
    const name = (prefix: string) => (i < 10 ? longName(prefix, 400) : prefix);
    return {
      name: name(`/dev/vd${i}`),
      partition: false,
      dependencies: Array.from({ length: dependencies }, (_, j) => name(`/dev/dm-${j}`)),
      alias: name("alias"),
    };
  });
  return () => list;
}

/** Every other string the snapshot takes from the guest, long and hostile. */
export function hostileStrings(): Record<string, CommandHandler> {
  return {
    "guest-get-host-name": () => ({ "host-name": longName("host", 10_000) }),
    "guest-get-osinfo": () => ({
      id: longName("id", 1000),
      name: longName("name", 1000),
      "pretty-name": longName("pretty", 1000),
      version: longName("version", 1000),
      "kernel-release": longName("kernel", 1000),
      machine: longName("machine", 1000),
    }),
    "guest-get-timezone": () => ({ zone: longName("Europe/", 1000), offset: 3600 }),
  };
}
