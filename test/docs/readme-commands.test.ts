import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";
import { withTimeout } from "../helpers/wait.js";
import { type Block, isJsonLine, linesDiff, readmeBlocks, type Step } from "./readme.js";

/**
 * The README's shell examples work as printed. Every `sh` block of its Quick start, CLI, Examples and
 * fleet sections is typed, verbatim, into a bash of its own in this checkout, against `npm run demo`
 * started by the test: once on the demo's embedded broker (what a machine without a broker gets) and once
 * on a mosquitto (MQTT 5). What each command prints must have the shape of what the README shows below it
 * (ids, times, durations and host names aside); a command that fails (unless the README shows its exit
 * code) fails the test. A block that cannot run here is marked in the README with
 * `<!-- docs-test: skip (reason) -->`.
 *
 * The README's commands use the default broker, 127.0.0.1:1883, which a user's machine (and this one) may
 * already run. The test uses a free port instead and points the unchanged commands at it as a user would
 * without editing them: the mosquitto clients read default options from $XDG_CONFIG_HOME/mosquitto_pub and
 * mosquitto_sub, qga-mqtt reads $QGA_MQTT_MQTT_URL.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const readme = readFileSync(path.join(root, "README.md"), "utf8");
const blocks = readmeBlocks(readme);
const skip = skipWithout("mosquitto_pub", "mosquitto_sub", "jq");
/** A command that has not ended by then would have a reader reach for Ctrl-C: it fails the block. */
const STEP_MS = 30_000;
/** How long output a command causes (replies to a publish, seen by a background mosquitto_sub) may take. */
const OUTPUT_MS = 15_000;

/** The environment of this test's children: not the npm or test runner's steering variables. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key.startsWith("QGA_MQTT_") || key === "NODE_TEST_CONTEXT") continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A child's output as it grows, and a way to wait, without polling, until it says something. */
class Output {
  text = "";
  private readonly waiters = new Set<() => void>();
  constructor(stream: NodeJS.ReadableStream) {
    stream.on("data", (chunk: Buffer) => {
      this.text += chunk.toString();
      for (const wake of this.waiters) wake();
    });
  }
  /** Resolves when `ready` says yes, checked on every chunk; rejects after `ms` with `what`. */
  async until<T>(ready: () => T | undefined, ms: number, what: () => string): Promise<T> {
    const now = ready();
    if (now !== undefined) return now;
    let wake = (): void => {};
    const found = new Promise<T>((resolve) => {
      wake = () => {
        const value = ready();
        if (value !== undefined) resolve(value);
      };
      this.waiters.add(wake);
    });
    try {
      return await withTimeout(found, ms, "timeout").catch((err: Error) => {
        throw err.message === "timeout" ? new Error(what()) : err;
      });
    } finally {
      this.waiters.delete(wake);
    }
  }
}

/** `npm run demo`, as a user starts it, in a process group of its own. */
interface Demo {
  readonly banner: string;
  /** When it has ended on its own: that, and the last lines it printed. */
  ended(): string | undefined;
  stop(): Promise<void>;
}

async function startDemo(args: string[], env: NodeJS.ProcessEnv): Promise<Demo> {
  const child = spawn("npm", ["run", "demo", ...(args.length > 0 ? ["--", ...args] : [])], {
    cwd: root,
    env: cleanEnv({ TZ: "UTC", ...env }),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  let exited = false;
  once(child, "exit").then(() => {
    exited = true;
  });
  // Its output pipes close once every process of the demo has ended (npm ends first, the demo after its
  // clean-up, which writes to them): that is when it has stopped.
  const closed = once(child, "close");
  /** Signals what is left of the demo's process group (its agents, if it died first); it may be gone. */
  const signal = (name: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // nothing left
    }
  };
  const stop = async () => {
    if (exited) {
      // It ended on its own (a crash): its agents may be left, in its group.
      signal("SIGTERM");
      return;
    }
    signal("SIGINT");
    await withTimeout(closed, 15_000, "npm run demo did not stop on Ctrl-C").catch(async (error) => {
      signal("SIGKILL");
      await closed;
      throw error;
    });
  };
  try {
    const banner = await out.until(
      () => (out.text.includes("Ctrl-C stops the demo.") ? out.text : exited ? "" : undefined),
      120_000,
      () => `npm run demo printed no banner:\n${out.text}\n${err.text}`,
    );
    if (banner === "") throw new Error(`npm run demo ended:\n${out.text}\n${err.text}`);
    const ended = () =>
      exited
        ? `npm run demo ended on its own; it printed last:\n${`${out.text}\n${err.text}`.trim().split("\n").slice(-25).join("\n")}`
        : undefined;
    return { banner, ended, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A bash reading commands one at a time, as a terminal would give them; `$?` carries over. */
class Shell {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly out: Output;
  private readonly err: Output;
  private outAt = 0;
  private errAt = 0;
  private count = 0;
  /** Lines of a topic the test published to see a subscription live: not the README's. */
  private readonly hidden: string[] = [];

  constructor(env: NodeJS.ProcessEnv) {
    // A process group of its own: whatever its commands leave running is stopped with it.
    this.child = spawn("bash", ["--noprofile", "--norc"], { cwd: root, env, stdio: "pipe", detached: true });
    this.out = new Output(this.child.stdout);
    this.err = new Output(this.child.stderr);
    this.child.stdin.write("__rc=0\n");
  }

  hide(prefix: string): void {
    this.hidden.push(prefix);
  }

  private lines(text: string): string[] {
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.filter(
      (line) => !this.hidden.some((prefix) => line === prefix || line.startsWith(`${prefix} `)),
    );
  }

  /** Runs one command; resolves with its exit code and what the shell printed while it ran. */
  async run(command: string): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
    const n = ++this.count;
    const encoded = Buffer.from(command).toString("base64");
    // The command runs with stdin from /dev/null (the next lines are the shell's, not its), after `$?` is
    // set back to the previous command's code, for `echo $?`.
    this.child.stdin.write(
      `__cmd=$(printf %s '${encoded}' | base64 -d)\n` +
        `(exit $__rc); { eval "$__cmd"; } </dev/null\n` +
        `__rc=$?\nprintf '\\036END ${n} %d\\n' "$__rc"; printf '\\036END ${n}\\n' >&2\n`,
    );
    const endOut = new RegExp(`\\x1eEND ${n} (\\d+)\\n`);
    const [code, stdout] = await this.out.until(
      () => {
        const match = endOut.exec(this.out.text.slice(this.outAt));
        if (!match) return undefined;
        const text = this.out.text.slice(this.outAt, this.outAt + match.index);
        this.outAt += match.index + match[0].length;
        return [Number(match[1]), text] as const;
      },
      STEP_MS,
      () =>
        `\`${command}\` did not end within ${STEP_MS / 1000} s; printed:\n${this.out.text.slice(this.outAt)}`,
    );
    const endErr = `\x1eEND ${n}\n`;
    const stderr = await this.err.until(
      () => {
        const at = this.err.text.indexOf(endErr, this.errAt);
        if (at < 0) return undefined;
        const text = this.err.text.slice(this.errAt, at);
        this.errAt = at + endErr.length;
        return text;
      },
      STEP_MS,
      () => `the shell did not finish \`${command}\``,
    );
    return { code, stdout: this.lines(stdout), stderr: this.lines(stderr) };
  }

  /** Standard output printed since the last command ended (by background commands). */
  since(): string[] {
    const text = this.out.text.slice(this.outAt);
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    this.outAt += complete.length;
    return this.lines(complete);
  }

  /** Resolves once background commands have printed `count` more lines (not hidden), or rejects. */
  async awaitLines(have: string[], count: number, what: string): Promise<string[]> {
    const lines = [...have];
    await this.out
      .until(
        () => {
          lines.push(...this.since());
          return lines.length >= count ? true : undefined;
        },
        OUTPUT_MS,
        () => `${what}: ${lines.length} of ${count} lines within ${OUTPUT_MS / 1000} s:\n${lines.join("\n")}`,
      )
      .catch((error: Error) => {
        lines.push(`(${error.message.split("\n")[0]})`);
      });
    return lines;
  }

  /** Waits until a line starting with `prefix` has been printed. */
  async awaitLine(prefix: string, what: string): Promise<void> {
    await this.out.until(
      () =>
        this.out.text
          .slice(this.outAt)
          .split("\n")
          .some((line) => line.startsWith(prefix))
          ? true
          : undefined,
      OUTPUT_MS,
      () => what,
    );
  }

  /**
   * Stops the background commands it started and ends; resolves with what they printed last. A shell still
   * busy with a command that did not end is stopped with its whole process group.
   */
  async close(): Promise<string[]> {
    const exited = this.child.exitCode !== null ? Promise.resolve() : once(this.child, "exit").then(() => {});
    this.child.stdin.end('kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; printf "\\036BYE\\n"\n');
    try {
      await this.out.until(
        () => (this.out.text.includes("\x1eBYE\n") ? true : undefined),
        5_000,
        () => "the shell did not end",
      );
      const rest = this.out.text.slice(this.outAt, this.out.text.indexOf("\x1eBYE\n"));
      this.outAt = this.out.text.length;
      await exited;
      return this.lines(rest);
    } catch {
      return [];
    } finally {
      if (this.child.pid !== undefined) {
        try {
          process.kill(-this.child.pid, "SIGKILL");
        } catch {
          // the group has ended
        }
      }
    }
  }
}

/** The first topic filter of a mosquitto_sub command, made into a topic it receives. */
function probeTopic(command: string): string | undefined {
  if (!/^mosquitto_sub\b/.test(command)) return undefined;
  const match = /\s-t\s+(?:'([^']*)'|"([^"]*)"|(\S+))/.exec(command);
  const filter = match?.[1] ?? match?.[2] ?? match?.[3];
  return filter?.replace(/#$/, "docs-test-probe").replace(/\+/g, "docs-test-probe");
}

interface Broker {
  readonly port: number;
  readonly url: string;
  readonly protocolVersion: 4 | 5;
}

/**
 * What a block must never do here, whatever its marker says: change this checkout (others may be using
 * it) or the machine. Such a block needs `<!-- docs-test: skip (reason) -->`.
 */
const UNSAFE =
  /(^|[;&|(]\s*)(sudo|npm\s+(ci|install|i|uninstall|update|link)\b|apt(-get)?\s|systemctl|docker|git\s)/;

/** Runs one block's commands in a new shell; resolves with everything that differs from the README. */
async function runBlock(block: Block, broker: Broker, configDir: string): Promise<string[]> {
  const unsafe = block.steps.filter((step) => UNSAFE.test(step.command.trim()));
  if (unsafe.length > 0) {
    return unsafe.map(
      (step) => `README.md:${step.line} \`${step.command}\` would change this checkout or machine: not run`,
    );
  }
  const shell = new Shell(
    cleanEnv({
      XDG_CONFIG_HOME: configDir,
      QGA_MQTT_MQTT_URL: broker.url,
      // npx runs this checkout's qga-mqtt or fails: it must never fetch a package of that name.
      npm_config_yes: "false",
    }),
  );
  const problems: string[] = [];
  const probe = await mqtt.connectAsync(broker.url, {
    protocolVersion: broker.protocolVersion,
    reconnectPeriod: 0,
  });
  try {
    for (const [index, step] of block.steps.entries()) {
      const where = `README.md:${step.line} \`${step.command}\``;
      const topic = step.background ? probeTopic(step.command) : undefined;
      if (topic) {
        // Retained, it reaches the background mosquitto_sub once its subscription is live.
        shell.hide(topic);
        await probe.publishAsync(topic, "probe", { retain: true, qos: 1 });
      }
      const result = await shell.run(step.command);
      if (topic) {
        await shell.awaitLine(`${topic} probe`, `${where}: its subscription did not start`);
        await probe.publishAsync(topic, "", { retain: true, qos: 1 });
      }
      const next: Step | undefined = block.steps[index + 1];
      const checked = next?.command.trim() === "echo $?";
      const before = problems.length;
      if (result.code !== 0 && !checked) problems.push(`${where} failed with exit code ${result.code}`);
      let stdout = result.stdout;
      if (!block.prompts) stdout = await shell.awaitLines(stdout, step.stdout.length, where);
      // Tables and text in order; JSON lines (one per reply, as they come) in any order.
      const ordered = block.prompts && !(step.stdout.length > 0 && step.stdout.every(isJsonLine));
      for (const problem of linesDiff(step.stdout, stdout, ordered)) problems.push(`${where}: ${problem}`);
      for (const problem of linesDiff(step.stderr, result.stderr, true)) {
        problems.push(`${where} (stderr): ${problem}`);
      }
      if (problems.length > before && result.code !== 0) {
        problems.push(`${where} printed:\n${[...stdout, ...result.stderr].join("\n")}`);
      }
    }
  } finally {
    const rest = await shell.close();
    for (const line of rest) problems.push(`printed after the last command, not in the README: ${line}`);
    await probe.endAsync();
  }
  return problems;
}

function title(block: Block): string {
  const first = block.steps[0]?.command ?? "(empty)";
  return `README.md:${block.line} (${block.section}): ${first}`;
}

test("the README's runnable sections have sh blocks; every one the test skips says why", (t) => {
  assert.ok(blocks.length >= 4, `only ${blocks.length} sh blocks found in the sections`);
  assert.ok(
    blocks.some((block) => block.section.startsWith("Examples") && !block.skip),
    "the Examples block is not run",
  );
  assert.ok(
    blocks.some((block) => block.section.startsWith("The fleet") && !block.skip),
    "the fleet block is not run",
  );
  for (const block of blocks) {
    if (block.skip) t.diagnostic(`skipped: ${title(block)}: ${block.skip}`);
    assert.ok(block.steps.length > 0, `${title(block)} has no command`);
    const unsafe = block.skip ? [] : block.steps.filter((step) => UNSAFE.test(step.command.trim()));
    assert.deepEqual(
      unsafe.map((step) => step.command),
      [],
      `${title(block)} would change this checkout or machine: mark it <!-- docs-test: skip (why) -->`,
    );
  }
});

for (const variant of ["embedded", "mosquitto"] as const) {
  describe(`the README's commands against npm run demo (${variant === "embedded" ? "its embedded broker" : "on mosquitto"})`, {
    skip: skip || (variant === "mosquitto" && skipWithout("mosquitto")),
  }, () => {
    let dir: string;
    let demo: Demo | undefined;
    let mosquitto: Mosquitto | undefined;
    let broker: Broker;

    before(
      async () => {
        dir = await mkdtemp(path.join(os.tmpdir(), "qga-docs-"));
        if (variant === "mosquitto") {
          mosquitto = await startMosquitto();
          broker = { port: mosquitto.port, url: mosquitto.url, protocolVersion: 5 };
          demo = await startDemo([], { QGA_MQTT_MQTT_URL: mosquitto.url });
        } else {
          const port = await freePort();
          broker = { port, url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4 };
          demo = await startDemo(["--port", String(port)], {});
        }
        // The mosquitto clients' own configuration files: the unchanged commands go to this broker.
        for (const client of ["mosquitto_pub", "mosquitto_sub"]) {
          await writeFile(path.join(dir, client), `-h 127.0.0.1\n-p ${broker.port}\n`);
        }
      },
      { timeout: 180_000 },
    );

    after(async () => {
      await demo?.stop();
      await mosquitto?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("the demo says which broker it uses, and its lines name that broker's port", () => {
      assert.ok(demo);
      assert.match(demo.banner, /3 VMs \(demo1, demo2, demo3\)/);
      const lines = demo.banner
        .split("\n")
        .filter((line) => /^\s+(mosquitto_(pub|sub)|.*npx qga-mqtt)/.test(line));
      assert.ok(lines.length >= 4, demo.banner);
      for (const line of lines) {
        if (line.includes("mosquitto_")) assert.match(line, new RegExp(`-p ${broker.port}\\b`), line);
        else assert.ok(line.includes(`QGA_MQTT_MQTT_URL=mqtt://127.0.0.1:${broker.port}`), line);
      }
      if (variant === "embedded") assert.match(demo.banner, /embedded broker/);
    });

    for (const block of blocks) {
      test(title(block), { skip: block.skip ?? false, timeout: 180_000 }, async () => {
        const problems = await runBlock(block, broker, dir);
        const cut = (line: string) => (line.length > 400 ? `${line.slice(0, 400)}…` : line);
        const ended = demo?.ended();
        if (ended) problems.push(ended);
        if (problems.length > 0)
          assert.fail(
            `README.md:${block.line}:\n${problems.map((problem) => problem.split("\n").map(cut).join("\n")).join("\n")}`,
          );
      });
    }
  });
}
