/** Shared pieces of `npm run bench`: the worker as a process, /proc readings, a fleet of fake agents, a load client. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { stringify } from "yaml";
import { type Mosquitto, startMosquitto } from "../test/helpers/mosquitto.js";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const distMain = path.join(root, "dist/src/main.js");
/** The built CLI when `npm run build` has run (tsx adds memory and start-up time), else the sources via tsx. */
export const usingDist = existsSync(distMain);
export const runtimeNote = usingDist ? "node dist/src/main.js (built)" : "node --import tsx src/main.ts";

/** Node flags for every worker the bench spawns (run.ts's `--cpu-prof DIR` adds the profiler's). */
export const workerNodeFlags: string[] = [];

/**
 * run.ts's `--worker-main FILE`: the workers run this built main.js instead of dist/ (e.g. a copy of dist/
 * made before a change); `--baseline FILE`: the latency row runs a second worker from it, in the same
 * alternating blocks, instead of its TCP_NODELAY control, for a before/after within one run.
 */
export const workerBuilds: { main?: string; baseline?: string } = {};

export function cliArgv(main = workerBuilds.main): string[] {
  if (main) return [path.resolve(main)];
  return usingDist ? [distMain] : ["--import", "tsx", path.join(root, "src/main.ts")];
}

/**
 * TCP_NODELAY on an MQTT.js client's socket (MQTT.js leaves Nagle on: a PUBACK followed by a PUBLISH then
 * waits for the peer's delayed ACK, ~40 ms on loopback). The bench's own clients do the least a client can.
 */
export function noDelay(client: MqttClient): void {
  if (client.stream instanceof net.Socket) client.stream.setNoDelay(true);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface BenchWorker {
  readonly process: ChildProcess;
  readonly pid: number;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt: number;
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/** `qga-mqtt run --config FILE` in its own process; `ready` resolves at its "worker ready" log line. */
export async function spawnWorker(
  dir: string,
  name: string,
  config: Record<string, unknown>,
  nodeFlags: readonly string[] = [],
  main?: string,
): Promise<BenchWorker> {
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(file, stringify(config));
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [...workerNodeFlags, ...nodeFlags, ...cliArgv(main), "run", "--config", file],
    {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = once(child, "exit");
  const ready = new Promise<void>((resolve, reject) => {
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      // QGA_BENCH_WORKER_OUT=FILE: every worker's stdout appended there too (`--worker-flag=--trace-gc`).
      if (process.env.QGA_BENCH_WORKER_OUT) appendFileSync(process.env.QGA_BENCH_WORKER_OUT, chunk);
      partial = (partial + chunk.toString()).slice(-100_000);
      if (partial.includes('"msg":"worker ready')) resolve();
      const last = partial.lastIndexOf("\n");
      if (last >= 0) partial = partial.slice(last + 1);
    });
    void exited.then(() => reject(new Error(`worker ${name} exited: ${stderr}`)));
  });
  ready.catch(() => {});
  const mqttConfig = config.mqtt as { url: string; baseTopic?: string };
  const workerId = (config.worker as { id: string }).id;
  // Below log level info there is no "worker ready" line: its retained info on the broker says the same.
  const readyOnBroker = (async () => {
    const watcher = await mqtt.connectAsync(mqttConfig.url, { protocolVersion: 5 });
    try {
      await new Promise<void>((resolve) => {
        watcher.on("message", (_topic, payload) => {
          if (payload.length > 0) resolve();
        });
        void watcher.subscribeAsync(`${mqttConfig.baseTopic ?? "qga"}/bridge/${workerId}/info`, { qos: 1 });
      });
    } finally {
      await watcher.endAsync(true);
    }
  })();
  return {
    process: child,
    pid: child.pid!,
    spawnedAt,
    ready: Promise.race([ready, readyOnBroker]),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * CPU seconds used by each named process between start() and stop(): where the machine's two cores go
 * during a load (the load generator is this process: process.cpuUsage()).
 */
export class CpuAccount {
  private readonly before = new Map<string, number>();
  private constructor(private readonly pids: Record<string, number>) {}

  static start(pids: Record<string, number>): CpuAccount {
    const account = new CpuAccount(pids);
    for (const [name, pid] of Object.entries(pids)) account.before.set(name, procReading(pid).cpuSeconds);
    account.before.set("load generator", selfCpuSeconds());
    return account;
  }

  /** CPU µs per request of each process, and their sum. */
  perRequest(requests: number): Record<string, number> {
    const out: Record<string, number> = {};
    let total = 0;
    const used = (name: string, now: number) => {
      const us = ((now - this.before.get(name)!) * 1e6) / requests;
      out[name] = us;
      total += us;
    };
    for (const [name, pid] of Object.entries(this.pids)) used(name, procReading(pid).cpuSeconds);
    used("load generator", selfCpuSeconds());
    out.total = total;
    return out;
  }
}

function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** A folder of its own, a bench broker and `count` lean fake agents in it; close() removes all three. */
export async function benchFleet(
  label: string,
  count: number,
  prefix = "vm",
): Promise<{ dir: string; broker: Mosquitto; fleet: FakeFleet; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `qga-bench-${label}-`));
  const broker = await startBenchBroker();
  const fleet = await startFakeFleet(dir, count, prefix);
  return {
    dir,
    broker,
    fleet,
    async close() {
      await fleet.stop();
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `--baseline FILE`'s before/after: runs `round` for the baseline build, then for this one, `rounds` times
 * over, so that a noisy neighbour hits both alike. `main` is the build's main.js (undefined: this build).
 */
export async function alternateBuilds(
  rounds: number,
  baseline: string,
  round: (which: "build" | "baseline", main: string | undefined, index: number) => Promise<void>,
): Promise<void> {
  for (let index = 0; index < rounds; index++) {
    for (const which of ["baseline", "build"] as const)
      await round(which, which === "baseline" ? baseline : undefined, index);
  }
}

/** A /proc `stat` file's name and its user and system CPU time, in clock ticks of 1/100 s. */
function readStat(file: string): { name: string; user: number; system: number } {
  const stat = readFileSync(file, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
  const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  return { name, user: Number(fields[11]), system: Number(fields[12]) };
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function procReading(pid: number): { cpuSeconds: number; rssBytes: number; hwmBytes: number } {
  const { user, system } = readStat(`/proc/${pid}/stat`);
  const cpuSeconds = (user + system) / 100;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds, rssBytes: kib("VmRSS"), hwmBytes: kib("VmHWM") };
}

/**
 * User and system clock ticks (1/100 s) of each thread of `pid`, summed by thread name; the main thread
 * is "main" (node names every thread "node").
 */
export function threadTicks(pid: number): Map<string, [number, number]> {
  const ticks = new Map<string, [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const thread = readStat(`/proc/${pid}/task/${tid}/stat`);
      const name = tid === String(pid) ? "main" : thread.name;
      const [user, system] = ticks.get(name) ?? [0, 0];
      ticks.set(name, [user + thread.user, system + thread.system]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ticks;
}

export interface FakeFleet {
  readonly sockets: string[];
  /** The `vms:` of a worker's config serving every fake agent, as vm0, vm1, ... */
  readonly vms: Array<{ readonly name: string; readonly socket: string }>;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * `count` fake agents in a child process, on dir/<prefix><i>.sock. By default bench/lean-agent.mjs (plain
 * node, a scanner and JSON.parse: as cheap beside the worker as a C qemu-ga, answering what the real
 * qemu-ga 7.2 answered, every status query included); `faithful`: bench/fake-fleet.ts, test/fakes'
 * FakeAgent under tsx (QEMU's lexer byte by byte, several times the CPU per request, and only nine
 * commands), to compare against.
 */
export async function startFakeFleet(
  dir: string,
  count: number,
  prefix = "vm",
  kind: "lean" | "faithful" = "lean",
): Promise<FakeFleet> {
  const program =
    kind === "lean"
      ? [path.join(root, "bench/lean-agent.mjs")]
      : ["--import", "tsx", path.join(root, "bench/fake-fleet.ts")];
  const child = spawn(process.execPath, [...program, dir, String(count), prefix], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`fake fleet exited (${code})`)));
  });
  const exited = once(child, "exit");
  const sockets = Array.from({ length: count }, (_, i) => path.join(dir, `${prefix}${i}.sock`));
  return {
    sockets,
    vms: sockets.map((socket, i) => ({ name: `vm${i}`, socket })),
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One request in flight: a plain record (no timer, no closures of its own). */
interface Pending {
  readonly vm: string;
  readonly sentAt: number;
  resolve: (ms: number) => void;
  reject: (err: Error) => void;
}

/** How long a request may wait for its reply before it counts as lost, and how often that is checked. */
const LOST_AFTER_MS = 30_000;
const SWEEP_EVERY_MS = 1000;
const QOS1 = { qos: 1 } as const; // MQTT.js copies publish options: one object serves every request

/**
 * A load client: sends `<base>/<vm>/cmd/<command>` with a unique id and resolves with the latency when the
 * reply with that id arrives; a reply that is not ok, or names another VM, rejects (every reply is checked).
 * A request still unanswered after 30 s is counted lost and rejects (one sweep a second finds them: the
 * pending map is in send order, so it stops at the first young entry).
 */
export class LoadClient {
  private readonly pending = new Map<string, Pending>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  failures = 0;
  lastFailure = "";
  lost = 0;

  private constructor(
    readonly client: MqttClient,
    private readonly base: string,
    private readonly command: string,
  ) {
    client.on("message", (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as { id?: string; vm?: string; ok?: boolean };
      const entry = reply.id === undefined ? undefined : this.pending.get(reply.id);
      if (!entry) return;
      this.pending.delete(reply.id!);
      if (reply.ok !== true || reply.vm !== entry.vm) {
        const text = payload.toString().slice(0, 300);
        this.failures++;
        this.lastFailure = text;
        entry.reject(new Error(`bad reply: ${text}`));
      } else entry.resolve(performance.now() - entry.sentAt);
    });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  static async connect(url: string, base: string, command: string): Promise<LoadClient> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    noDelay(client);
    await client.subscribeAsync(`${base}/+/reply/${command}`, { qos: 1 });
    return new LoadClient(client, base, command);
  }

  request(vm: string, args?: Record<string, unknown>): Promise<number> {
    const id = `b${++this.next}`;
    const entry: Pending = { vm, sentAt: performance.now(), resolve: noop, reject: noop };
    const promise = new Promise<number>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.pending.set(id, entry);
    const payload = JSON.stringify(args ? { id, args } : { id });
    this.client.publish(`${this.base}/${vm}/cmd/${this.command}`, payload, QOS1);
    return promise;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Ends the connection; a request still unanswered is counted lost and rejects now. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.client.endAsync(true);
    for (const [id, entry] of this.pending) {
      this.lost++;
      entry.reject(new Error(`no reply to ${id} (${entry.vm}) before the load client closed`));
    }
    this.pending.clear();
  }

  /** Fails the requests sent more than 30 s ago; the map keeps send order, so the oldest come first. */
  private sweep(): void {
    const cutoff = performance.now() - LOST_AFTER_MS;
    for (const [id, entry] of this.pending) {
      if (entry.sentAt > cutoff) return;
      this.pending.delete(id);
      this.lost++;
      entry.reject(new Error(`no reply to ${id} (${entry.vm}) within 30 s`));
    }
  }
}

const noop = (): void => {};

/**
 * mosquitto as the tests start it, plus `set_tcp_nodelay true`: without it, mosquitto's Nagle delay meets
 * the clients' delayed ACKs and every QoS 1 round trip on loopback takes ~40-90 ms, which would measure
 * the broker's socket option rather than anything in this project (the floor relay sees the same broker).
 */
export async function startBenchBroker(): Promise<Mosquitto> {
  const broker = await startMosquitto();
  await appendFile(path.join(broker.dir, "mosquitto.conf"), "set_tcp_nodelay true\n");
  await broker.restart();
  return broker;
}

/**
 * bench/echo-relay.mjs in a process of its own; `mode`: its fleet mode (a base topic) or its bare bridge
 * to a qemu-ga socket (see there).
 */
export async function startRelay(
  url: string,
  mode?: string | { readonly agent: string },
): Promise<{ readonly pid: number; stop(): Promise<void> }> {
  const args = mode === undefined ? [] : typeof mode === "string" ? [mode] : ["--agent", mode.agent];
  const child = spawn(process.execPath, [path.join(root, "bench/echo-relay.mjs"), url, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the echo relay exited with ${code}`)));
    child.stdout?.once("data", () => resolve());
  });
  child.removeAllListeners("exit");
  return {
    pid: child.pid!,
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * How a report names another build: the commit of the checkout it was built in (a worktree, usually), else
 * its file. A machine's paths mean nothing to the reader; the commit does.
 */
export function describeBuild(main: string): string {
  const checkout = path.resolve(path.dirname(main), "../..");
  try {
    const commit = execFileSync("git", ["-C", checkout, "rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return `the build of commit ${commit}`;
  } catch {
    return main;
  }
}
