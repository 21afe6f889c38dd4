/**
 * `npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 30]`: self time of a V8 CPU profile (`node
 * --cpu-prof`) by function and by file (node_modules grouped by package), the biggest first. Idle and
 * program ticks are shown apart, so the percentages are of the time the process was busy in JS.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "30" }, from: { type: "string", default: "0" } },
});
const top = Number(values.top);
/** Samples before this many seconds into the profile are left out (`--from 20`: past the start-up). */
const fromUs = Number(values.from) * 1e6;
if (positionals.length === 0) {
  process.stderr.write("usage: tsx bench/profile-summary.ts FILE.cpuprofile… [--top N] [--from SECONDS]\n");
  process.exit(2);
}

/** node_modules/<pkg>/… → the package; the project's files relative to the repository; node: built-ins. */
function fileOf(url: string): string {
  if (url === "") return "(native/V8)";
  const clean = url.replace(/^file:\/\//, "");
  const modules = clean.lastIndexOf("node_modules/");
  if (modules >= 0) {
    const rest = clean.slice(modules + "node_modules/".length).split("/");
    return `npm:${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (clean.startsWith("node:")) return clean;
  return path.relative(process.cwd(), clean);
}

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

for (const file of positionals) {
  const profile = JSON.parse(await readFile(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const special = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (SPECIAL.has(functionName)) {
      special.set(functionName, (special.get(functionName) ?? 0) + us);
      if (functionName !== "(idle)") busy += us;
      continue;
    }
    busy += us;
    const where = fileOf(url);
    const key = `${functionName || "(anonymous)"}  ${where}${url ? `:${lineNumber + 1}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  // Inclusive time: a node's self time plus its descendants', summed per function (a recursive function
  // counts once per stack, not per frame).
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const total = new Map<string, number>();
  for (const [id, us] of self) {
    if (SPECIAL.has(byId.get(id)!.callFrame.functionName)) continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
      if (SPECIAL.has(functionName) || !url || url.startsWith("node:")) continue;
      const key = `${functionName || "(anonymous)"}  ${fileOf(url)}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + us);
    }
  }
  const wall = profile.endTime - profile.startTime - fromUs;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(`# ${path.basename(file)}`);
  console.log(
    `wall ${(wall / 1e6).toFixed(1)} s, busy (not idle) ${(busy / 1e6).toFixed(1)} s = ${((100 * busy) / wall).toFixed(0)}% of one core; ` +
      [...special].map(([name, us]) => `${name} ${ms(us).trim()}`).join(", "),
  );
  const table = (title: string, entries: Map<string, number>) => {
    console.log(`\n## self time by ${title} (top ${top}, % of busy)`);
    for (const [key, us] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`${ms(us)} ${pct(us)}  ${key}`);
  };
  table("function", byFunction);
  table("file or package", byFile);
  table("function, inclusive (JS only)", total);
  console.log("");
}
