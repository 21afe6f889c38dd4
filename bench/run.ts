/**
 * `npm run bench [-- --quick]`: every row in one run on this machine; writes BENCHMARKS.md and
 * bench/results/latest.json. A row that fails is left out of the table with the reason.
 *
 * `--only latency,throughput`: just those rows, written to bench/results/only-<rows>.json (latest.json and
 * BENCHMARKS.md are left alone). `--cpu-prof DIR`: every worker the rows start runs with
 * `node --cpu-prof --cpu-prof-dir=DIR` (summarise with `npx tsx bench/profile-summary.ts DIR/*.cpuprofile`);
 * `--worker-flag=--import=FILE` (repeatable): any other node flag for them, e.g. an instrumenting preload.
 * `--worker-main FILE` / `--baseline FILE`: another build of the worker, see bench/lib.ts workerBuilds.
 */
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { root, runtimeNote, workerBuilds, workerNodeFlags } from "./lib.js";
import { dashboardPage } from "./rows/dashboard.js";
import { fileCopy } from "./rows/file-copy.js";
import { fleetQuery } from "./rows/fleet-query.js";
import { groupCopy } from "./rows/group-copy.js";
import { latency } from "./rows/latency.js";
import { libvirtPing } from "./rows/libvirt.js";
import { startup } from "./rows/startup.js";
import { idleCost } from "./rows/status-cost.js";
import { throughput } from "./rows/throughput.js";
import type { RowOptions, RowResult } from "./rows/types.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "cpu-prof": { type: "string" },
    "worker-flag": { type: "string", multiple: true },
    "worker-main": { type: "string" },
    baseline: { type: "string" },
  },
});
const options: RowOptions = { quick: values.quick ?? false };
const profileDir = values["cpu-prof"];
if (profileDir) workerNodeFlags.push("--cpu-prof", `--cpu-prof-dir=${path.resolve(profileDir)}`);
workerNodeFlags.push(...(values["worker-flag"] ?? []));
if (values["worker-main"]) workerBuilds.main = values["worker-main"];
if (values.baseline) workerBuilds.baseline = values.baseline;
const allRows: Array<[string, (o: RowOptions) => Promise<RowResult>]> = [
  ["latency", latency],
  ["throughput", throughput],
  ["fleet-query", fleetQuery],
  ["idle-cost", idleCost],
  ["startup", startup],
  ["libvirt", libvirtPing],
  ["file-copy", fileCopy],
  ["group-copy", groupCopy],
  ["dashboard", dashboardPage],
];
const only = values.only?.split(",").map((id) => id.trim());
const unknown = only?.filter((id) => !allRows.some(([name]) => name === id)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(
    `bench: no row ${unknown.join(", ")} (rows: ${allRows.map(([id]) => id).join(", ")})\n`,
  );
  process.exit(2);
}
const rows = only ? allRows.filter(([id]) => only.includes(id)) : allRows;
const results: RowResult[] = [];
const leftOut: Array<{ id: string; reason: string }> = [];
const began = Date.now();
for (const [id, row] of rows) {
  process.stderr.write(`bench: ${id}...\n`);
  const t = Date.now();
  try {
    const result = await row(options);
    results.push(result);
    process.stderr.write(`bench: ${id} done in ${((Date.now() - t) / 1000).toFixed(0)} s: ${result.pass}\n`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    leftOut.push({ id, reason });
    process.stderr.write(`bench: ${id} left out: ${reason}\n`);
  }
}
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const runtime = workerBuilds.main ? `node ${workerBuilds.main}` : runtimeNote;
const json = {
  date: new Date().toISOString(),
  commit: commitMeasured(),
  quick: options.quick,
  machine,
  runtime,
  seconds: Math.round((Date.now() - began) / 1000),
  rows: results,
  leftOut,
};
if (only) {
  // A partial run never replaces the full run's figures.
  const file = path.join(root, `bench/results/only-${only.join("-")}.json`);
  await writeFile(file, `${JSON.stringify({ ...json, only }, null, 2)}\n`);
  for (const r of results) {
    process.stderr.write(`\n${r.title}: ${r.pass}\n`);
    for (const [what, figure, ratio] of r.table) process.stderr.write(`  ${what}: ${figure} ${ratio}\n`);
  }
  process.stderr.write(`bench: wrote ${path.relative(root, file)} in ${json.seconds} s\n`);
  process.exit(0);
}
await writeFile(path.join(root, "bench/results/latest.json"), `${JSON.stringify(json, null, 2)}\n`);
const verdict = (pass: boolean | null) => (pass === null ? "–" : pass ? "pass" : "**fail**");
const md = [
  "# Benchmarks",
  "",
  `Measured by \`npm run bench${options.quick ? " -- --quick" : ""}\` on ${json.date.slice(0, 10)} at commit ${json.commit}, every row in one run (${json.seconds} s) on ${machine}; the worker ran as ${runtime}. Broker: mosquitto with \`set_tcp_nodelay true\`. Ratios hold better than the absolute figures on a shared machine. Raw figures: [bench/results/latest.json](bench/results/latest.json).`,
  "",
  "| row | goal | result |",
  "|---|---|---|",
  ...results.map((r) => `| ${r.title} | ${r.goal} | ${verdict(r.pass)} |`),
  ...leftOut.map((l) => `| ${l.id} | | left out: ${l.reason.replaceAll("|", "/").replaceAll("\n", " ")} |`),
  "",
  ...results.flatMap((r) => [
    `## ${r.title}`,
    "",
    `Goal: ${r.goal}. Result: ${verdict(r.pass)}.`,
    "",
    "| measurement | median (p99) or figure | ratio |",
    "|---|---|---|",
    ...r.table.map(([what, figure, ratio]) => `| ${what} | ${figure} | ${ratio} |`),
    "",
    ...r.notes.flatMap((note) => [note, ""]),
  ]),
];
// The profile and what it changed: written by hand (bench/PROFILE.md), kept beside the figures.
const profile = await readFile(path.join(root, "bench/PROFILE.md"), "utf8").catch(() => "");
await writeFile(path.join(root, "BENCHMARKS.md"), [...md, profile].join("\n"));
process.stderr.write(`bench: wrote BENCHMARKS.md and bench/results/latest.json in ${json.seconds} s\n`);
process.exit(0);

/** The checkout's commit, and whether it had changes of its own: which code a report measured. */
function commitMeasured(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
    const changed = git(
      "status",
      "--porcelain",
      "--untracked-files=no",
      "--",
      "src",
      "bench",
      "package.json",
    );
    return `${git("rev-parse", "--short", "HEAD")}${changed ? " with uncommitted changes" : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}
