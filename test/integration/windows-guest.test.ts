import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startWindowsAgent, type WindowsAgent } from "../fakes/windows-agent.js";
import { cp850, windowsFileKey } from "../fakes/windows-guest.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { TestClient } from "../helpers/mqtt-client.js";
import { skipWithout } from "../helpers/tools.js";
import { vmRequests } from "../helpers/vm-requests.js";
import { startWorker, type WorkerProcess } from "../helpers/worker-process.js";

/**
 * Windows guests through the worker CLI on a real mosquitto, against the Windows fake agent (whose
 * replies come from qga/commands-win32.c): restrictions judge Windows paths (each way Windows reads a
 * path differently from how it is written is refused, as a verb and as a raw command, and never reaches
 * the agent), `auto` learns the flavour from guest-get-osinfo, and the status, Home Assistant config and
 * metrics read drive letters and domains sensibly.
 */
const skip = skipWithout("mosquitto");
const base = "qgawin";
let dir: string;
let broker: Mosquitto;
let worker: WorkerProcess;
let client: TestClient;
let origin: string;
const agents: Record<string, WindowsAgent> = {};

const FILES = ["C:\\Users\\Public\\Docs"];
const EXEC = ["C:\\Windows\\System32\\ipconfig.exe", "C:\\Tools\\*.exe"];

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-windows-"));
  broker = await startMosquitto();
  for (const vm of ["win", "winauto", "winfree"]) {
    agents[vm] = await startWindowsAgent({ path: path.join(dir, `${vm}.sock`) });
  }
  // VSS holds writes for 10 s; this one has let go before any thaw arrives.
  agents.winvss = await startWindowsAgent({ path: path.join(dir, "winvss.sock"), vssHoldMs: -1 });
  agents.winblind = await startWindowsAgent({
    path: path.join(dir, "winblind.sock"),
    disabled: ["guest-get-osinfo"],
  });
  for (const agent of Object.values(agents)) {
    agent.guest.files.set(windowsFileKey("C:\\Users\\Public\\Docs\\note.txt"), Buffer.from("public\r\n"));
    agent.guest.files.set(windowsFileKey("C:\\Users\\Administrator\\secret.txt"), Buffer.from("secret"));
  }
  client = await TestClient.connect(broker.url);
  await client.subscribe([`${base}/#`, "homeassistant/#"]);
  worker = await startWorker(dir, {
    worker: { id: "win-host" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: Object.keys(agents).map((name) => ({ name, socket: path.join(dir, `${name}.sock`) })),
    policy: { default: ["all"] },
    restrictions: {
      vms: {
        win: { pathFlavour: "windows", exec: EXEC, files: FILES },
        winauto: { exec: EXEC, files: FILES },
        winblind: { files: FILES },
      },
    },
    homeassistant: { enabled: true },
    status: { intervalSeconds: 1 },
    http: { listen: "127.0.0.1:0" },
  });
  const listening = await worker.waitForLog((line) => line.component === "http" && "port" in line);
  origin = `http://127.0.0.1:${String(listening.port)}`;
});

after(async () => {
  await client?.close();
  await worker?.stop();
  for (const agent of Object.values(agents)) await agent.stop();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const requests = () => vmRequests(client, base, "w", 30_000);
const sent = (vm: string, command: string) =>
  agents[vm]!.fake.requests.filter((r) => r.execute === command).length;

/** Paths a lexical check that reads them the POSIX way (or as written) would let through. */
const FILE_BYPASSES = [
  "C:\\Users\\Public\\Docs\\..\\..\\Administrator\\secret.txt",
  "c:/users/public/docs/../../administrator/secret.txt",
  "\\\\fileserver\\c$\\Users\\Public\\Docs\\note.txt",
  "\\\\?\\C:\\Users\\Public\\Docs\\note.txt",
  "\\\\.\\C:\\Users\\Public\\Docs\\note.txt",
  "//?/C:/Users/Public/Docs/note.txt",
  "\\??\\C:\\Users\\Public\\Docs\\note.txt",
  "C:\\Users\\Public\\DOCS~1\\note.txt",
  "C:\\Users\\Public\\Docs\\note.txt:hidden",
  "C:\\Users\\Public\\Docs\\note.txt::$DATA",
  "C:\\Users\\Public\\Docs\\note.txt.",
  "C:\\Users\\Public\\Docs\\note.txt ",
  "C:\\Users\\Public\\Docs\\CON",
  "C:\\Users\\Public\\Docs\\nul.txt",
  "C:\\Users\\Public\\Docs\\COM1",
  "C:\\Users\\Public\\Docs\\LPT1.log",
  "C:\\Users\\Public\\Docs\\AUX",
  "C:\\Users\\Public\\Docs\\PRN.txt",
  "C:Users\\Public\\Docs\\note.txt",
  "Users\\Public\\Docs\\note.txt",
  "\\Users\\Public\\Docs\\note.txt",
  "/Users/Public/Docs/note.txt",
  "C:\\Users\\Public\\Docs2\\note.txt",
];

const EXEC_BYPASSES = [
  "C:\\Windows\\System32\\..\\..\\Windows\\System32\\cmd.exe",
  "\\\\fileserver\\tools\\ipconfig.exe",
  "\\\\?\\C:\\Windows\\System32\\ipconfig.exe",
  "C:\\WINDOW~1\\System32\\ipconfig.exe",
  "C:\\Windows\\System32\\ipconfig.exe.",
  "C:\\Windows\\System32\\ipconfig.exe ",
  "C:\\Windows\\System32\\ipconfig.exe:evil.exe",
  "C:\\Tools\\CON.exe",
  "C:ipconfig.exe",
  "ipconfig.exe",
  "\\Windows\\System32\\ipconfig.exe",
  "C:\\Tools\\sub\\x.exe",
];

test("every Windows file-path bypass is forbidden as a verb and as guest-file-open, and never sent", {
  skip,
}, async () => {
  const { request } = requests();
  for (const vm of ["win", "winauto"]) {
    const before = sent(vm, "guest-file-open");
    for (const target of FILE_BYPASSES) {
      const attempts: Array<[string, Record<string, unknown>]> = [
        ["read-file", { path: target }],
        ["write-file", { path: target, content: "x" }],
        ["put-begin", { path: target, size: 1, sha256: "0".repeat(64) }],
        ["guest-file-open", { path: target, mode: "r" }],
      ];
      for (const [command, args] of attempts) {
        const reply = await request(vm, command, args);
        const error = reply.error as { code?: string; message?: string } | undefined;
        // Judged as Windows reads it: not refused for want of a flavour, nor as a POSIX path.
        assert.doesNotMatch(error?.message ?? "", /backslash|limited to absolute|not known yet/, target);
        assert.equal(
          error?.code,
          "forbidden",
          `${vm} ${command} ${JSON.stringify(target)}: ${JSON.stringify(reply)}`,
        );
      }
    }
    assert.equal(sent(vm, "guest-file-open"), before, `${vm}: nothing reached the agent`);
  }
});

test("every Windows exec bypass is forbidden as exec and as guest-exec, and never sent", {
  skip,
}, async () => {
  const { request } = requests();
  for (const vm of ["win", "winauto"]) {
    const before = sent(vm, "guest-exec");
    for (const target of EXEC_BYPASSES) {
      for (const command of ["exec", "guest-exec"]) {
        const reply = await request(vm, command, { path: target });
        const error = reply.error as { code?: string; message?: string } | undefined;
        assert.equal(error?.code, "forbidden", `${vm} ${command} ${JSON.stringify(target)}`);
        assert.doesNotMatch(error?.message ?? "", /backslash|limited to programs|not known yet/, target);
      }
    }
    assert.equal(sent(vm, "guest-exec"), before, `${vm}: nothing reached the agent`);
  }
});

test("allowed Windows paths work in any case and with either separator, sent normalised", {
  skip,
}, async () => {
  const { ok } = requests();
  for (const vm of ["win", "winauto"]) {
    const read = (await ok(vm, "read-file", { path: "c:/users/PUBLIC/docs/./note.txt" })) as Record<
      string,
      unknown
    >;
    assert.equal(read.content, "public\r\n");
    const opened = agents[vm]!.fake.requests.filter((r) => r.execute === "guest-file-open").at(-1);
    assert.deepEqual(opened?.arguments, { path: "C:\\users\\PUBLIC\\docs\\note.txt", mode: "r" });
    await ok(vm, "write-file", { path: "C:\\Users\\Public\\Docs\\new.txt", content: "written" });
    assert.equal(
      agents[vm]!.guest.files.get(windowsFileKey("C:\\Users\\Public\\Docs\\new.txt"))?.toString(),
      "written",
    );
    // A transfer without the POSIX programs an atomic put needs (mv): atomic false.
    const upload = Buffer.from("uploaded\r\n");
    const digest = createHash("sha256").update(upload).digest("hex");
    const begin = (await ok(vm, "put-begin", {
      path: "c:/Users/Public/Docs/up.txt",
      size: upload.length,
      sha256: digest,
      atomic: false,
    })) as Record<string, unknown>;
    const data = upload.toString("base64");
    await ok(vm, "put-part", { transfer: begin.transfer, offset: 0, data, sha256: digest });
    await ok(vm, "put-end", { transfer: begin.transfer });
    assert.deepEqual(agents[vm]!.guest.files.get(windowsFileKey("C:\\Users\\Public\\Docs\\up.txt")), upload);
    const handle = await ok(vm, "guest-file-open", { path: "C:\\USERS\\public\\Docs\\note.txt" });
    assert.equal(typeof handle, "number");
    await ok(vm, "guest-file-close", { handle });

    agents[vm]!.guest.program = () => ({ exitcode: 0, out: "Windows IP Configuration\r\n" });
    const run = (await ok(vm, "exec", {
      path: "c:/windows/system32/IPCONFIG.EXE",
      args: ["/all"],
    })) as Record<string, unknown>;
    assert.equal(run.exit_code, 0);
    assert.equal(agents[vm]!.guest.started.at(-1)?.path, "C:\\windows\\system32\\IPCONFIG.EXE");
    await ok(vm, "guest-exec", { path: "C:\\Tools\\report.exe" });
  }
});

test("auto learns Windows from guest-get-osinfo; while the OS is unknown restricted paths are refused", {
  skip,
}, async () => {
  const { request } = requests();
  assert.ok(sent("winauto", "guest-get-osinfo") >= 1);
  const reply = await request("winblind", "read-file", { path: "C:\\Users\\Public\\Docs\\note.txt" });
  const error = reply.error as { code?: string; message?: string };
  assert.equal(error.code, "forbidden");
  assert.match(error.message ?? "", /pathFlavour: windows or posix/);
  assert.match(error.message ?? "", /restrictions\.vms\.winblind/);
  assert.equal(sent("winblind", "guest-file-open"), 0);
});

test("exec output in the console code page comes back as base64 of the exact bytes", { skip }, async () => {
  const { ok } = requests();
  const bytes = cp850(" Directory of C:\\Users\\Public\r\n\r\n07.12.2026  10:00    12 Résumé.txt\r\n");
  agents.winfree!.guest.program = () => ({ exitcode: 0, out: bytes });
  const run = (await ok("winfree", "exec", {
    path: "C:\\Windows\\System32\\cmd.exe",
    args: ["/c", "dir", "C:\\Users\\Public"],
  })) as Record<string, unknown>;
  assert.equal(run.stdout_encoding, "base64");
  assert.deepEqual(Buffer.from(String(run.stdout), "base64"), bytes);
  // Asked for the console's code page: text, and the bytes still exact through it.
  const paged = (await ok("winfree", "exec", {
    path: "C:\\Windows\\System32\\cmd.exe",
    args: ["/c", "dir", "C:\\Users\\Public"],
    output_encoding: "cp850",
  })) as Record<string, unknown>;
  assert.equal(paged.stdout_encoding, "cp850");
  assert.match(String(paged.stdout), /12 Résumé\.txt\r\n$/);
  assert.equal(paged.stderr, "");
  // Unrestricted: the Windows path goes as given.
  assert.equal(agents.winfree!.guest.started.at(-1)?.path, "C:\\Windows\\System32\\cmd.exe");
  // After chcp 65001 the console writes UTF-8, and the reply is text.
  agents.winfree!.guest.program = () => ({ exitcode: 0, out: "12 Résumé.txt\r\n" });
  const utf8 = (await ok("winfree", "exec", {
    path: "C:\\Windows\\System32\\cmd.exe",
    args: ["/c", "chcp 65001 >nul & dir"],
  })) as Record<string, unknown>;
  assert.equal(utf8.stdout_encoding, "utf8");
  assert.equal(utf8.stdout, "12 Résumé.txt\r\n");
});

test("the status of a Windows guest: drive letters, domains, no load, no loopback", { skip }, async () => {
  const message = await client.next(`${base}/winfree/status`, (m) => {
    const s = client.json(m);
    return s.agent === "online" && Array.isArray(s.filesystems);
  });
  const status = client.json(message);
  const osInfo = status.os as Record<string, unknown>;
  assert.equal(osInfo.id, "mswindows");
  assert.equal(osInfo.kernel_release, "20348");
  assert.equal(osInfo.version, "Microsoft Windows Server 2022");
  const filesystems = status.filesystems as Array<Record<string, unknown>>;
  assert.deepEqual(
    filesystems.map((f) => [f.mountpoint, f.type]),
    [
      ["D:\\", "NTFS"],
      ["C:\\", "NTFS"],
    ],
  );
  const users = status.users as Array<Record<string, unknown>>;
  assert.deepEqual(
    users.map((u) => [u.name, u.domain]),
    [
      ["Administrator", "WIN-SRV2022"],
      ["alice", "CORP"],
    ],
  );
  assert.equal(status.load, undefined, "7.2 on Windows has no guest-get-load");
  assert.equal(status.cpu_pct, undefined, "guest-get-cpustats is unsupported on Windows");
  assert.equal(status.vcpus, 4);
  const interfaces = status.interfaces as Array<Record<string, unknown>>;
  assert.deepEqual(
    interfaces.map((i) => i.name),
    ["Ethernet"],
  );
  assert.deepEqual((status.timezone as Record<string, unknown>).name, "W. Europe Standard Time");
});

test("Home Assistant entities and metrics for drive letters are safe ids and labels", { skip }, async () => {
  const message = await client.next("homeassistant/device/qga_winfree/config", (m) => {
    if (m.payload.length === 0) return false;
    const components = (client.json(m).components ?? {}) as Record<string, Record<string, unknown>>;
    return Object.values(components).some((c) => c.name === "Disk C:\\");
  });
  const components = client.json(message).components as Record<string, Record<string, unknown>>;
  const disks = Object.entries(components).filter(([, c]) => String(c.name).startsWith("Disk "));
  assert.equal(disks.length, 2);
  for (const [key, component] of disks) {
    assert.match(key, /^fs_[A-Za-z0-9_-]+$/);
    assert.match(String(component.unique_id), /^[A-Za-z0-9_-]+$/);
  }
  assert.equal(components.os?.icon, "mdi:microsoft-windows");
  assert.equal(components.kernel?.name, "OS build");

  const response = await fetch(`${origin}/metrics`);
  const families = parsePrometheusTextFormat(await response.text());
  const used = families.find((f) => f.name === "qga_guest_filesystem_used_bytes");
  const mounts = (used?.metrics ?? [])
    .map((m) => (m as { labels?: Record<string, string> }).labels ?? {})
    .filter((labels) => labels.vm === "winfree")
    .map((labels) => labels.mountpoint)
    .sort();
  assert.deepEqual(mounts, ["C:\\", "D:\\"]);
});

test("freeze goes through VSS; a thaw after VSS let go fails with the agent's words, and the agent is thawed", {
  skip,
}, async () => {
  const { ok, request } = requests();
  assert.deepEqual(await ok("winfree", "freeze", { mountpoints: ["C:\\"] }), { frozen: 1 });
  assert.deepEqual(await ok("winfree", "thaw"), { thawed: 2 });

  assert.deepEqual(await ok("winvss", "freeze"), { frozen: 2 });
  const late = await request("winvss", "thaw");
  assert.equal(late.ok, false);
  assert.match(String((late.error as { message?: string }).message), /limited up to 10 seconds/);
  const from = client.messages.length;
  const status = await client.next(
    `${base}/winvss/status`,
    (m) => client.messages.indexOf(m) >= from && client.json(m).agent === "online",
  );
  assert.equal(client.json(status).agent, "online");
});

test("an atomic put or a mode on a Windows guest is refused at put-begin (restricted or not), saying atomic: false", {
  skip,
}, async () => {
  const { request } = requests();
  for (const vm of ["win", "winfree"]) {
    const opened = sent(vm, "guest-file-open");
    const args = { path: "C:\\Users\\Public\\Docs\\big.iso", size: 10, sha256: "0".repeat(64) };
    const atomic = await request(vm, "put-begin", args);
    // The details sit beside the code and message (errors.ts).
    const error = atomic.error as { code?: string; message?: string; atomic_unavailable?: boolean };
    assert.equal(error?.code, "unsupported", `${vm}: ${JSON.stringify(atomic)}`);
    assert.match(error?.message ?? "", /"atomic": false/);
    assert.equal(error?.atomic_unavailable, true, JSON.stringify(error));
    const mode = await request(vm, "put-begin", { ...args, atomic: false, mode: "0644" });
    assert.equal((mode.error as { code?: string })?.code, "unsupported", JSON.stringify(mode));
    assert.equal(sent(vm, "guest-file-open"), opened, `${vm}: nothing was opened in the guest`);
  }
});
