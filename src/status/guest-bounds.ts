/*
 * Bounds on what a guest names. Everything a guest agent answers is the guest root's to choose (a
 * customer's VM, a compromised one): without bounds, 50,000 mount points made a 17 MB retained status,
 * 48 MB of Home Assistant discovery per poll, 1.86 GB of worker memory, and seconds of delay for every
 * other VM. The bounds are applied once, where the agent's answers become the snapshot (derive.ts and
 * collector.ts), so the status topic, Home Assistant and the guest metrics all get the same bounded data.
 * README "Status snapshot" documents them.
 */

export interface GuestBounds {
  /**
   * Entries kept of each list, in the agent's order (later ones dropped, `truncated` names the list).
   * Chosen well above what real guests report, and low enough that the snapshot stays small: see
   * GUEST_BOUNDS for each.
   */
  readonly filesystems: number;
  readonly interfaces: number;
  /** Per interface and per family (IPv4, IPv6). */
  readonly addressesPerFamily: number;
  readonly users: number;
  /** Disks, partitions and device-mapper volumes (guest-get-disks lists them all). */
  readonly disks: number;
  readonly dependenciesPerDisk: number;
  /** Entries of the per-CPU lists (guest-get-vcpus, guest-get-cpustats) counted or summed. */
  readonly cpus: number;
  /**
   * A list filtered on the way (filesystems without sizes, loopback interfaces, a repeated name) is walked
   * for at most `scanFactor` times its bound: a guest listing 50,000 entries that are all skipped costs
   * that many steps, not 50,000.
   */
  readonly scanFactor: number;
  /** Characters (UTF-16 code units) of a path: mount points, disk device paths. */
  readonly pathChars: number;
  /** Of a name: host, interface, user and domain names, OS names, time zone, disk alias and serial. */
  readonly nameChars: number;
  /** Of a token: MAC and IP addresses, filesystem and bus types, kernel release, machine, agent version. */
  readonly tokenChars: number;
  /** Bytes of the serialised snapshot; over it, list entries are dropped (largest list first). */
  readonly snapshotBytes: number;
  /**
   * Home Assistant re-announcements of a VM whose entities changed: `burst` at once, then one per
   * `everyMs` (a token bucket), the newest entity set announced when allowed. A guest renaming its
   * mounts on every poll costs Home Assistant one device reload a minute, not one per poll.
   */
  readonly announce: { readonly burst: number; readonly everyMs: number };
}

/**
 * The defaults. Sizes for the worst case: 64 filesystems of 256-character mount points are ~20 KB of
 * JSON in ASCII; the lists together can exceed 64 KiB only with long names in most entries, which only
 * a guest that wants to can produce, and then `snapshotBytes` cuts.
 */
export const GUEST_BOUNDS: GuestBounds = Object.freeze({
  // An Ubuntu desktop with snaps has ~40 mounts; a Kubernetes node more (its pods' volumes come last in
  // mount order, / and the data disks first). 64 Home Assistant sensors per VM at most.
  filesystems: 64,
  // Physical and bonded NICs come first (ifindex order); a container host's veths fill the rest.
  interfaces: 64,
  // Linux keeps at most 16 autoconfigured IPv6 addresses per interface (net.ipv6.conf.*.max_addresses).
  // Per family, so that a Windows guest listing its IPv6 addresses first keeps its IPv4 ones.
  addressesPerFamily: 16,
  // Logged-in users (qemu-ga lists each user once, with their first login).
  users: 64,
  // Disks, partitions and LVM/dm volumes together: 16 disks of 4 partitions and a volume each fit twice.
  disks: 128,
  dependenciesPerDisk: 16,
  // The most vCPUs any QEMU machine type takes (q35 with KVM); a longer list is a lie.
  cpus: 4096,
  scanFactor: 4,
  // A mount point past 256 characters is rare, and it names a Home Assistant entity.
  pathChars: 256,
  // Linux host names are at most 64 characters, Windows ones 63, interface names 15 (Windows' friendly
  // names longer), user names 32.
  nameChars: 128,
  // utsname fields (kernel release, machine) are 64; an IPv6 address with a zone id fits.
  tokenChars: 64,
  // A typical snapshot is 1–3 KB; 1,000 VMs at the bound would be 64 MB retained at the broker.
  snapshotBytes: 64 * 1024,
  announce: Object.freeze({ burst: 3, everyMs: 60_000 }),
});

/**
 * Control characters (C0, DEL, C1), lone surrogates (not valid UTF-8: a broker or a scraper would mangle
 * them), line and paragraph separators and bidirectional overrides and isolates (which make a name read
 * as another in a log or a UI). Replaced, not removed: `a\u0001` and `a\u0002` stay distinct from `a`.
 */
const UNSAFE = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
const REPLACEMENT = "\uFFFD";
const CUT = "…";

/**
 * `value` bounded to `max` UTF-16 code units (a cut one ends with "…") with every unsafe character
 * replaced by U+FFFD. Cut first, so the replacement works on at most `max` characters; a surrogate pair
 * cut in half becomes U+FFFD too.
 */
export function boundText(value: string, max: number): string {
  const cut = value.length > max ? value.slice(0, Math.max(0, max - 1)) + CUT : value;
  return cut.replace(UNSAFE, REPLACEMENT);
}

/** `boundText` for an optional member. */
export function boundOptional(value: string | undefined, max: number): string | undefined {
  return value === undefined ? undefined : boundText(value, max);
}
