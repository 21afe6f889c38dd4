import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import {
  type CommandName,
  catalogue,
  commandNames,
  compareQemuVersions,
  isCommandName,
} from "../../src/qga/catalogue/index.js";
import { agent10Dir } from "../helpers/qemu-ga.js";

/*
 * The catalogue against the agent versions the tests run (Debian 12's qemu-ga 7.2, and 10.0 from
 * bookworm-backports: scripts/fetch-qemu-ga.sh): their command lists, and the real replies captured from
 * each (fixtures/qga-<version>/, parsed in catalogue-samples.test.ts).
 */

interface Capture {
  request: { execute: string; arguments?: unknown };
  response: { return: unknown };
}

function loadCaptures(agent: string): Map<string, Capture> {
  const dir = new URL(`./fixtures/qga-${agent}/`, import.meta.url);
  return new Map(
    readdirSync(dir)
      .filter((file) => file.endsWith(".json"))
      .map((file) => [
        file.replace(/\.json$/, ""),
        JSON.parse(readFileSync(new URL(file, dir), "utf8")) as Capture,
      ]),
  );
}

const agent72 = loadCaptures("7.2");
const agent100 = loadCaptures("10.0");
const sorted = (names: readonly string[]) => [...names].sort();

// `qemu-ga -b help` of Debian 12's qemu-ga 7.2.22.
const AGENT_7_2_COMMANDS = [
  "guest-exec",
  "guest-exec-status",
  "guest-file-close",
  "guest-file-flush",
  "guest-file-open",
  "guest-file-read",
  "guest-file-seek",
  "guest-file-write",
  "guest-fsfreeze-freeze",
  "guest-fsfreeze-freeze-list",
  "guest-fsfreeze-status",
  "guest-fsfreeze-thaw",
  "guest-fstrim",
  "guest-get-cpustats",
  "guest-get-devices",
  "guest-get-disks",
  "guest-get-diskstats",
  "guest-get-fsinfo",
  "guest-get-host-name",
  "guest-get-memory-block-info",
  "guest-get-memory-blocks",
  "guest-get-osinfo",
  "guest-get-time",
  "guest-get-timezone",
  "guest-get-users",
  "guest-get-vcpus",
  "guest-info",
  "guest-network-get-interfaces",
  "guest-ping",
  "guest-set-memory-blocks",
  "guest-set-time",
  "guest-set-user-password",
  "guest-set-vcpus",
  "guest-shutdown",
  "guest-ssh-add-authorized-keys",
  "guest-ssh-get-authorized-keys",
  "guest-ssh-remove-authorized-keys",
  "guest-suspend-disk",
  "guest-suspend-hybrid",
  "guest-suspend-ram",
  "guest-sync",
  "guest-sync-delimited",
];

// The commands of Debian's qemu-ga 10.0.2 (bookworm-backports; scripts/fetch-qemu-ga.sh), as its guest-info
// lists them: 7.2's less guest-get-devices (Windows only), plus guest-get-load and guest-network-get-route.
const AGENT_10_0_COMMANDS = catalogue["guest-info"].result
  .parse(agent100.get("guest-info")?.response.return)
  .supported_commands.map((c) => c.name);

test("every command of the 7.2 agent is in the catalogue with since <= 7.2; the rest are newer", () => {
  for (const name of AGENT_7_2_COMMANDS) {
    assert.ok(isCommandName(name), `${name} missing`);
    assert.ok(
      compareQemuVersions(catalogue[name].since, "7.2") <= 0,
      `${name} since ${catalogue[name].since}`,
    );
  }
  const newer = commandNames.filter((n) => !AGENT_7_2_COMMANDS.includes(n));
  assert.deepEqual(sorted(newer), ["guest-get-load", "guest-network-get-route"]);
  for (const name of newer) {
    assert.ok(
      compareQemuVersions(catalogue[name].since, "7.2") > 0,
      `${name} since ${catalogue[name].since}`,
    );
  }
  assert.equal(catalogue["guest-get-load"].since, "10.0");
  assert.equal(catalogue["guest-network-get-route"].since, "9.1");
  assert.equal(catalogue["guest-get-cpustats"].since, "7.1");
  assert.equal(catalogue["guest-get-diskstats"].since, "7.1");
});

test("every command of the 10.0 agent is in the catalogue with since <= 10.0", () => {
  for (const name of AGENT_10_0_COMMANDS) {
    assert.ok(isCommandName(name), `${name} missing`);
    assert.ok(
      compareQemuVersions(catalogue[name].since, "10.0") <= 0,
      `${name} since ${catalogue[name].since}`,
    );
  }
  const only = (a: string[], b: string[]) => sorted(a.filter((n) => !b.includes(n)));
  assert.deepEqual(only(AGENT_7_2_COMMANDS, AGENT_10_0_COMMANDS), ["guest-get-devices"]);
  assert.deepEqual(only(AGENT_10_0_COMMANDS, AGENT_7_2_COMMANDS), [
    "guest-get-load",
    "guest-network-get-route",
  ]);
});

function agentCommands(program: string): string[] | undefined {
  try {
    // `-b help` only prints the command list; it starts no agent.
    const out = execFileSync(program, ["-b", "help"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return out.split(/\s+/).filter((word) => word.startsWith("guest-"));
  } catch {
    return undefined;
  }
}

// The system's qemu-ga (Debian 12's 7.2) and the 10.0 of scripts/fetch-qemu-ga.sh; a unit test skips one
// that is not there (the integration tests insist on both, and compare each with its guest-info capture).
for (const [label, program] of [
  ["the installed qemu-ga", "qemu-ga"],
  ["qemu-ga 10.0", path.join(agent10Dir(), "usr/sbin/qemu-ga")],
] as const) {
  const commands = agentCommands(program);
  test(`${label}: its commands are all in the catalogue`, { skip: commands === undefined }, () => {
    assert.ok(commands !== undefined && commands.length > 0);
    for (const name of commands) assert.ok(isCommandName(name), `${name} missing from the catalogue`);
  });
}

/** The read-only commands an agent serves on Linux: all but guest-get-devices (Windows only), and newer ones. */
function linuxReadOnly(newerThanAgent: readonly CommandName[]): string[] {
  return commandNames
    .filter((n) => catalogue[n].readOnly && n !== "guest-get-devices" && !newerThanAgent.includes(n))
    .sort();
}

test("every read-only command the 7.2 agent serves on Linux has a real capture", () => {
  assert.deepEqual([...agent72.keys()].sort(), linuxReadOnly(["guest-get-load", "guest-network-get-route"]));
});

test("every read-only command the 10.0 agent serves on Linux has a real capture", () => {
  assert.deepEqual([...agent100.keys()].sort(), linuxReadOnly([]));
});

test("the captures of both agents answer the same requests with replies of the same members", () => {
  // What 10.0 adds to a reply 7.2 also gives: one member, fsinfo's total-bytes-privileged (9.1).
  const added: Record<string, string[]> = { "guest-get-fsinfo": ["total-bytes-privileged"] };
  for (const [name, old] of agent72) {
    const now = agent100.get(name);
    assert.ok(now, `${name} missing from the 10.0 captures`);
    assert.deepEqual(now.request, old.request, name);
    const members = (reply: unknown) =>
      [...new Set((Array.isArray(reply) ? reply : [reply]).flatMap((r) => memberNames(r)))].sort();
    const was = members(old.response.return);
    assert.deepEqual(
      members(now.response.return).filter((m) => !was.includes(m)),
      added[name] ?? [],
      `${name}: members only 10.0 sent`,
    );
  }
});

function memberNames(value: unknown): string[] {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : [];
}
