// What a Windows Server guest's qemu-ga (virtio-win) answers, taken from the agent's sources, not guessed:
// qemu/qemu qga/commands-win32.c at 0e4ef702e82baf1797ea02e40f39acabe46923aa (7.2/8.0 era, the version
// matrix with Server 2022) and at 0083124b3adb67bb740f1f06c2360335a5ce1533 (older: Server 2016/2019 only),
// qga/commands.c (guest-exec, guest-get-timezone through glib) and the generated qga-qapi-commands.h
// (guest-ssh-* are CONFIG_POSIX only). Values that come from the machine (names, sizes, GUIDs) are made up.

/** QERR_UNSUPPORTED: what a Windows agent answers for commands it compiles but cannot do. */
export const UNSUPPORTED = "this feature or command is not currently supported";

/**
 * qga_get_win_name(): the Server table by first build at 0e4ef702 (2016 from 14393, 2019 from 17763, 2022
 * from 20344); the older agents (0083124b) matched `build <= final_build` up to 2019 only and answer "N/A"
 * for a 2022 build.
 */
export function windowsServerName(build: number, oldTable = false): { version: string; id: string } {
  const table: Array<[number, string]> = [
    [14393, "2016"],
    [17763, "2019"],
    [20344, "2022"],
  ];
  if (oldTable) {
    const row = table.slice(0, 2).find(([last]) => build <= last);
    return row
      ? { version: `Microsoft Windows Server ${row[1]}`, id: row[1] }
      : { version: "N/A", id: "N/A" };
  }
  let found: string | undefined;
  for (const [first, id] of table) if (build >= first) found = id;
  return found ? { version: `Microsoft Windows Server ${found}`, id: found } : { version: "N/A", id: "N/A" };
}

/** qmp_guest_get_osinfo(): RtlGetVersion, the registry's ProductName, GetNativeSystemInfo. */
export function windowsOsInfo(build = 20348, productName = "Windows Server 2022 Datacenter"): unknown {
  const { version, id } = windowsServerName(build);
  return {
    "kernel-version": "10.0",
    "kernel-release": String(build),
    machine: "x86_64",
    id: "mswindows",
    name: "Microsoft Windows",
    "pretty-name": productName,
    version,
    "version-id": id,
    variant: "server",
    "variant-id": "server",
  };
}

const DISK0 = {
  "pci-controller": { domain: 0, bus: 0, slot: 7, function: 0 },
  "bus-type": "sas",
  bus: 0,
  target: 0,
  unit: 0,
  serial: "QM00001",
  dev: "\\\\.\\PhysicalDrive0",
};

/**
 * qmp_guest_get_fsinfo(): one entry per volume, the list built by prepending (so in reverse of
 * FindNextVolume). `mountpoint` is the first path of GetVolumePathNamesForVolumeName with its trailing
 * backslash; a volume without a drive letter is "System Reserved" and has no sizes.
 */
export function windowsFsInfo(): unknown[] {
  return [
    {
      name: "\\\\?\\Volume{4c1b02c1-d990-11dc-99ae-806e6f6e6963}\\",
      mountpoint: "D:\\",
      type: "NTFS",
      "used-bytes": 20_000_000_000,
      "total-bytes": 107_372_081_152,
      disk: [{ ...DISK0, unit: 1, serial: "QM00002", dev: "\\\\.\\PhysicalDrive1" }],
    },
    {
      name: "\\\\?\\Volume{4c1b02c0-d990-11dc-99ae-806e6f6e6963}\\",
      mountpoint: "C:\\",
      type: "NTFS",
      "used-bytes": 23_622_320_128,
      "total-bytes": 63_720_976_384,
      disk: [DISK0],
    },
    {
      name: "\\\\?\\Volume{4c1b02bf-d990-11dc-99ae-806e6f6e6963}\\",
      mountpoint: "System Reserved",
      type: "NTFS",
      disk: [DISK0],
    },
  ];
}

/**
 * qmp_guest_network_get_interfaces(): FriendlyName, the MAC, WSAAddressToString (IPv6 link-local keeps
 * its %scope), OnLinkPrefixLength; statistics from GetIfEntry2 where the adapter has an index.
 */
export function windowsInterfaces(): unknown[] {
  return [
    {
      name: "Ethernet",
      "hardware-address": "52:54:00:12:34:56",
      "ip-addresses": [
        { "ip-address": "fe80::5d3c:a1b2:c3d4:e5f6%6", "ip-address-type": "ipv6", prefix: 64 },
        { "ip-address": "192.168.122.50", "ip-address-type": "ipv4", prefix: 24 },
      ],
      statistics: {
        "rx-bytes": 123456789,
        "rx-packets": 98765,
        "rx-errs": 0,
        "rx-dropped": 0,
        "tx-bytes": 23456789,
        "tx-packets": 54321,
        "tx-errs": 0,
        "tx-dropped": 0,
      },
    },
    {
      name: "Loopback Pseudo-Interface 1",
      "ip-addresses": [
        { "ip-address": "::1", "ip-address-type": "ipv6", prefix: 128 },
        { "ip-address": "127.0.0.1", "ip-address-type": "ipv4", prefix: 8 },
      ],
    },
  ];
}

/** qmp_guest_get_users(): one entry per user name (WTS sessions), with its domain, earliest login. */
export function windowsUsers(nowSeconds = Math.floor(Date.now() / 1000)): unknown[] {
  return [
    { user: "Administrator", domain: "WIN-SRV2022", "login-time": nowSeconds - 3600.5 },
    { user: "alice", domain: "CORP", "login-time": nowSeconds - 120.25 },
  ];
}

/** qmp_guest_get_vcpus(): one per logical processor, online, can-offline present and false. */
export function windowsVcpus(count = 4): unknown[] {
  return Array.from({ length: count }, (_, i) => ({ "logical-id": i, online: true, "can-offline": false }));
}

/** qmp_guest_get_disks() (CONFIG_QGA_NTDDSCSI): the physical disks, then the volumes on them. */
export function windowsDisks(): unknown[] {
  return [
    { name: "\\\\.\\PhysicalDrive0", partition: false, address: DISK0 },
    {
      name: "\\\\?\\Volume{4c1b02c0-d990-11dc-99ae-806e6f6e6963}\\",
      partition: true,
      dependencies: ["\\\\.\\PhysicalDrive0"],
      address: DISK0,
    },
  ];
}

/** qmp_guest_get_devices(): virtio drivers (PCI vendor 1AF4/1B36) with their version and date. */
export function windowsDevices(): unknown[] {
  return [
    {
      "driver-name": "Red Hat VirtIO Ethernet Adapter",
      "driver-date": 1_700_000_000_000_000_000n,
      "driver-version": "100.94.104.24800",
      id: { type: "pci", "vendor-id": 0x1af4, "device-id": 0x1041 },
    },
  ];
}

/**
 * How Windows reads a path given to CreateFileW, enough to show what a restriction must refuse: `/` is
 * `\`, `.` and `..` resolve, trailing dots and spaces of a name are stripped, `::$DATA` is the file
 * itself, and names compare without case. The key the fake's files are stored under.
 */
export function windowsFileKey(path: string): string {
  const withoutStream = path.replace(/::\$DATA$/i, "");
  const [drive = "", ...rest] = withoutStream.replace(/\//g, "\\").split("\\");
  const names: string[] = [];
  for (const raw of rest) {
    const name = raw === "." || raw === ".." ? raw : raw.replace(/[. ]+$/, "");
    if (name === "" || name === ".") continue;
    if (name === "..") names.pop();
    else names.push(name);
  }
  return [drive, ...names].join("\\").toLowerCase();
}

/** 8-bit code page 850 for the bytes a test's program writes ("é" is 0x82, as in 437). */
export function cp850(text: string): Buffer {
  const high: Record<string, number> = { é: 0x82, è: 0x8a, à: 0x85, ü: 0x81, ö: 0x94, ä: 0x84, É: 0x90 };
  return Buffer.from([...text].map((c) => high[c] ?? (c.charCodeAt(0) < 0x80 ? c.charCodeAt(0) : 0x3f)));
}
