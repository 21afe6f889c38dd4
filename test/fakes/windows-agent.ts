// A Windows guest's qemu-ga (as virtio-win ships it) for tests: its command list, what it disables and
// what it answers, from qemu/qemu qga/commands-win32.c at 0e4ef702e82baf1797ea02e40f39acabe46923aa and
// qga/commands.c (see windows-guest.ts for each reply's source). Built on FakeAgent, so the wire behaviour
// is the same fake's; exec and files on a FakeGuest whose paths Windows-style (windowsFileKey).
import { AgentFailure, type CommandHandler, FakeAgent, NO_REPLY } from "./fake-agent.js";
import { FakeGuest } from "./fake-guest.js";
import { QGA_7_2_COMMANDS } from "./qga-dispatch.js";
import {
  UNSUPPORTED,
  windowsDevices,
  windowsDisks,
  windowsFileKey,
  windowsFsInfo,
  windowsInterfaces,
  windowsOsInfo,
  windowsUsers,
  windowsVcpus,
} from "./windows-guest.js";

/**
 * ga_command_init_blockedrpcs(): compiled in, reported enabled:false, answered "has been disabled". Its
 * list also names guest-get-memory-block-size, which no 7.2 schema has: disabling it does nothing.
 */
export const WINDOWS_BLOCKED = [
  "guest-suspend-hybrid",
  "guest-set-vcpus",
  "guest-get-memory-blocks",
  "guest-set-memory-blocks",
  "guest-get-memory-block-info",
] as const;

/** Blocked too when vss_init() fails (the VSS provider is not installed or not registered). */
export const WINDOWS_VSS_COMMANDS = [
  "guest-get-fsinfo",
  "guest-fsfreeze-status",
  "guest-fsfreeze-freeze",
  "guest-fsfreeze-thaw",
] as const;

/** 7.2's schema on win32: the guest-ssh-* commands are CONFIG_POSIX only, so not even listed. */
export const WINDOWS_7_2_COMMANDS = QGA_7_2_COMMANDS.filter((name) => !name.startsWith("guest-ssh-"));

export interface WindowsAgentOptions {
  path: string;
  /** guest-info version, default "7.2.0"; from "10" on guest-get-load is listed (PDH-based on win32). */
  version?: string;
  /** vss_init() failed: fsinfo and fsfreeze are disabled. */
  noVss?: boolean;
  /** How long VSS holds writes (10 s in requester.cpp); a thaw later than this fails. */
  vssHoldMs?: number;
  /** RtlGetVersion's build number, default 20348 (Server 2022). */
  build?: number;
  /** Handlers replacing the defaults. */
  commands?: Record<string, CommandHandler>;
  /** Commands disabled besides the blocked ones (qemu-ga --block-rpcs). */
  disabled?: readonly string[];
}

export interface WindowsAgent {
  readonly fake: FakeAgent;
  /** Exec and files; files are keyed by windowsFileKey(path). */
  readonly guest: FakeGuest;
  readonly state: { frozenAt: number | undefined };
  stop(): Promise<void>;
}

function major(version: string): number {
  return Number.parseInt(version.split(".")[0] ?? "0", 10);
}

/** Starts the fake on `options.path`. */
export async function startWindowsAgent(options: WindowsAgentOptions): Promise<WindowsAgent> {
  const version = options.version ?? "7.2.0";
  const guest = new FakeGuest();
  const state: { frozenAt: number | undefined } = { frozenAt: undefined };
  const handlers = { ...windowsCommands(options, guest, state), ...(options.commands ?? {}) };
  if (major(version) >= 10) handlers["guest-get-load"] = () => ({ load1m: 0, load5m: 0, load15m: 0 });
  const disabled: string[] = [
    ...WINDOWS_BLOCKED,
    ...(options.noVss ? WINDOWS_VSS_COMMANDS : []),
    ...(options.disabled ?? []),
  ];
  for (const name of disabled) delete handlers[name];
  const fake = await FakeAgent.start({ path: options.path, version, commands: handlers, disabled });
  return { fake, guest, state, stop: () => fake.stop() };
}

function windowsCommands(
  options: WindowsAgentOptions,
  guest: FakeGuest,
  state: { frozenAt: number | undefined },
): Record<string, CommandHandler> {
  const files = guest.commands();
  const vssHoldMs = options.vssHoldMs ?? 10_000;
  const unsupported = () => {
    throw new AgentFailure("GenericError", UNSUPPORTED);
  };
  const freeze = (count: number) => {
    state.frozenAt = Date.now();
    return count;
  };
  return {
    ...files,
    // CreateFileW: the path as Windows reads it; a missing file is GetLastError() 2.
    "guest-file-open": (args) => {
      const path = String(args.path);
      const mode = String(args.mode ?? "r");
      const key = windowsFileKey(path);
      if ((mode === "r" || mode.startsWith("r")) && !guest.files.has(key)) {
        throw new AgentFailure(
          "GenericError",
          `failed to open file '${path}': The system cannot find the file specified.`,
        );
      }
      return files["guest-file-open"]!({ ...args, path: key });
    },
    "guest-get-osinfo": () => windowsOsInfo(options.build),
    "guest-get-host-name": () => ({ "host-name": "WIN-SRV2022" }),
    // g_time_zone_get_abbreviation() on Windows: the registry's standard (or daylight) name.
    "guest-get-timezone": () => ({ zone: "W. Europe Standard Time", offset: 3600 }),
    "guest-get-users": () => windowsUsers(),
    "guest-get-vcpus": () => windowsVcpus(),
    "guest-get-fsinfo": () => windowsFsInfo(),
    "guest-get-disks": () => windowsDisks(),
    "guest-get-devices": () => windowsDevices(),
    "guest-network-get-interfaces": () => windowsInterfaces(),
    "guest-get-diskstats": unsupported,
    "guest-get-cpustats": unsupported,
    "guest-fstrim": () => ({ paths: [{ path: "C:\\" }] }),
    "guest-suspend-disk": () => NO_REPLY,
    "guest-suspend-ram": () => NO_REPLY,
    "guest-shutdown": () => NO_REPLY,
    "guest-set-time": () => undefined,
    "guest-set-user-password": (args) => {
      if (args.crypted === true) unsupported();
    },
    // VSS: every volume with a drive letter at once (C: and D:), or the listed mount points.
    "guest-fsfreeze-status": () => (state.frozenAt === undefined ? "thawed" : "frozen"),
    "guest-fsfreeze-freeze": () => freeze(2),
    "guest-fsfreeze-freeze-list": (args) => {
      const wanted = (args.mountpoints as string[] | undefined) ?? ["C:\\", "D:\\"];
      return freeze(wanted.filter((m) => /^[cd]:\\?$/i.test(m)).length);
    },
    "guest-fsfreeze-thaw": () => {
      const since = state.frozenAt;
      state.frozenAt = undefined;
      if (since === undefined) return 0;
      if (Date.now() - since > vssHoldMs) {
        throw new AgentFailure(
          "GenericError",
          "couldn't hold writes: fsfreeze is limited up to 10 seconds: (error: 80042314)",
        );
      }
      return 2;
    },
  };
}
