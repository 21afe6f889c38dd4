import type { Logger } from "pino";
import { isEnabled } from "../qga/capabilities.js";
import type { CommandName, ResultOf } from "../qga/catalogue/index.js";
import type { GuestAgent } from "../qga/client.js";
import {
  AgentBusyError,
  AgentTimeoutError,
  AgentUnavailableError,
  FrozenError,
  QgaError,
} from "../qga/errors.js";
import { HostClock } from "./clock.js";
import {
  type CpuTotals,
  type Cuts,
  cpuPct,
  cpuSecondsFrom,
  cpuTotalMs,
  cpuTotals,
  disksFrom,
  filesystemsFrom,
  hostnameFrom,
  interfacesFrom,
  loadFrom,
  onlineVcpus,
  osFrom,
  timeOffsetMs,
  timezoneFrom,
  usersFrom,
} from "./derive.js";
import { fitSnapshot } from "./fit.js";
import { boundText, GUEST_BOUNDS, type GuestBounds } from "./guest-bounds.js";
import type { AgentStatus, GuestFields, StatusSnapshot, Truncated } from "./snapshot.js";

// Every query of a poll at once (7 on a usual poll, 11 on a connection's first; the client's maxInFlight is
// 8): one write and few reads per poll instead of one of each per query. Measured against qemu-ga 7.2,
// 1 → 4 in flight cut a collect by 15-35% and 8 barely more in time; in CPU, every wake-up saved counts
// (bench row 4). A command arriving meanwhile waits for the poll's queries either way: the agent answers
// in order.
const DEFAULT_CONCURRENCY = 8;

/**
 * Queries whose answers change only with an upgrade, a hot-plug or a reboot: asked on the first poll of a
 * connection and again after SLOW_REFRESH_MS, not on every poll (a third of a poll's queries: measured, the
 * status cost of 1,000 agents went down by about that).
 */
const SLOW_QUERIES: ReadonlySet<CommandName> = new Set([
  "guest-get-osinfo",
  "guest-get-timezone",
  "guest-get-vcpus",
  "guest-get-disks",
]);
const SLOW_REFRESH_MS = 300_000;

/** What the collector uses of the client (a test can hand in something smaller). */
export type StatusAgent = Pick<
  GuestAgent,
  "call" | "frozen" | "capabilities" | "onStateChange" | "misbehaviour"
>;

export interface StatusCollectorOptions {
  readonly vm: string;
  readonly agent: StatusAgent;
  /** Per query. */
  readonly timeoutMs: number;
  /** The clock of the slow queries' refresh (tests). */
  readonly now?: () => number;
  readonly log: Logger;
  /**
   * Queries in flight at once. The agent answers one at a time, but pipelining saves the round trips
   * between them. Default 8 (see DEFAULT_CONCURRENCY).
   */
  readonly concurrency?: number;
  /** What is kept of the lists and strings the guest names (guest-bounds.ts); default GUEST_BOUNDS. */
  readonly bounds?: GuestBounds;
}

interface Query {
  readonly name: CommandName;
  readonly run: () => Promise<GuestFields>;
}

/** Why a collect stopped early; anything else a query throws only drops that query. */
type Halt = "unresponsive" | "offline" | "frozen";

/**
 * Builds one VM's status snapshot from the guest agent's read-only queries. Keeps, between polls, the
 * previous CPU reading (for cpu_pct) and the queries this agent connection has refused.
 */
export class StatusCollector {
  private readonly vm: string;
  private readonly agent: StatusAgent;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly bounds: GuestBounds;
  /** Queries that failed on this guest: asking every poll would only fail again until it reconnects. */
  private readonly skipped = new Set<CommandName>();
  /** The baseline CPU reading, and the percentage computed when it was taken. */
  private cpu: { totals: CpuTotals; pct: number | undefined } | undefined;
  /** What the slow queries answered last, and when. */
  private slow: { fields: GuestFields; at: number } | undefined;
  private readonly now: () => number;
  /** The host's side of time_offset_ms. */
  private readonly clock = new HostClock();
  private readonly unsubscribe: () => void;
  /** Built once (after `bounds`, which they use): the same queries run on every poll. */
  private readonly allQueries: readonly Query[];

  constructor(options: StatusCollectorOptions) {
    this.vm = options.vm;
    this.agent = options.agent;
    this.timeoutMs = options.timeoutMs;
    this.log = options.log;
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    this.bounds = options.bounds ?? GUEST_BOUNDS;
    this.allQueries = this.queries();
    this.now = options.now ?? Date.now;
    // A new connection may be a new agent (upgraded, guest rebooted): give refused queries another chance.
    this.unsubscribe = this.agent.onStateChange((state) => {
      if (state === "offline") this.forget();
    });
  }

  /** Stops listening to the agent. */
  dispose(): void {
    this.unsubscribe();
  }

  async collect(): Promise<StatusSnapshot> {
    const fields: GuestFields = {};
    const status = await this.gather(fields);
    if (status === "offline") this.forget();
    const snapshot: StatusSnapshot = { vm: this.vm, agent: status, updated: new Date().toISOString() };
    if (status === "offline") return snapshot;
    const version = this.agent.capabilities?.version;
    if (version !== undefined) snapshot.agent_version = boundText(version, this.bounds.tokenChars);
    // While frozen, the agent serves only ping, info, sync and fsfreeze: nothing of the guest's state.
    if (status === "frozen") return snapshot;
    return fitSnapshot({ ...snapshot, ...fields }, this.bounds.snapshotBytes);
  }

  private forget(): void {
    this.skipped.clear();
    this.cpu = undefined;
    this.slow = undefined;
  }

  private async gather(fields: GuestFields): Promise<AgentStatus> {
    // Cut off for flooding its channel: not offline (it answers), not to be asked until the cut-off ends.
    if (this.agent.misbehaviour) return "unresponsive";
    try {
      // Which queries to run depends on guest-info, which the client learns on connecting.
      if (!this.agent.capabilities)
        await this.agent.call("guest-ping", undefined, { timeoutMs: this.timeoutMs });
      if (this.agent.frozen && (await this.stillFrozen())) return "frozen";
    } catch (error) {
      // Before any query: whatever went wrong, the agent is not answering as it should.
      return haltOf(error) ?? "unresponsive";
    }
    const refreshSlow = this.slow === undefined || this.now() - this.slow.at >= SLOW_REFRESH_MS;
    const slowFields: GuestFields = {};
    if (!refreshSlow && this.slow) merge(fields, this.slow.fields);
    const queries = this.allQueries.filter(
      (q) =>
        !this.skipped.has(q.name) &&
        isEnabled(this.agent.capabilities, q.name) &&
        (refreshSlow || !SLOW_QUERIES.has(q.name)),
    );
    let halt: Halt | undefined;
    const runOne = async (query: Query): Promise<void> => {
      try {
        const answer = await query.run();
        merge(fields, answer);
        if (SLOW_QUERIES.has(query.name)) merge(slowFields, answer);
      } catch (error) {
        halt ??= this.failed(error, query.name);
      }
    };
    // Started in one tick, the queries leave in one write (the channel batches a tick's requests), and the
    // agent's answers come back in as few reads. guest-get-time is first in that write, so it queues
    // behind nothing and its round-trip correction holds.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (halt === undefined && next < queries.length) await runOne(queries[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queries.length) }, worker));
    if (halt === undefined && refreshSlow) this.slow = { fields: slowFields, at: this.now() };
    return halt ?? "online";
  }

  /**
   * The client learns of a freeze from its own calls only; a thaw by someone else (a backup finishing)
   * it would never notice. guest-fsfreeze-status is served while frozen and updates the client.
   */
  private async stillFrozen(): Promise<boolean> {
    if (!isEnabled(this.agent.capabilities, "guest-fsfreeze-status")) return true;
    const status = await this.agent.call("guest-fsfreeze-status", undefined, { timeoutMs: this.timeoutMs });
    return status === "frozen";
  }

  /** A query failed: either this collect ends, or only the query is dropped (for now or for good). */
  private failed(error: unknown, name: CommandName): Halt | undefined {
    const halt = haltOf(error);
    if (halt === "unresponsive") this.log.warn({ vm: this.vm, command: name }, "status query timed out");
    // Someone else is filling the agent's queue: ask again next poll.
    if (halt !== undefined || error instanceof AgentBusyError) return halt;
    this.skipped.add(name);
    const reason = error instanceof Error ? error.message : String(error);
    const code = error instanceof QgaError ? error.code : "bug";
    // The agent refused it (no such hardware, disabled) or answered something the catalogue rejects.
    this.log[code === "bug" ? "error" : "info"](
      { vm: this.vm, command: name, code, reason },
      "status query skipped until the agent reconnects",
    );
    return undefined;
  }

  private call<K extends CommandName>(name: K): Promise<ResultOf<K>> {
    return this.agent.call(name, undefined, { timeoutMs: this.timeoutMs });
  }

  /** Every query the snapshot can use, guest-get-time first. */
  private queries(): Query[] {
    const b = this.bounds;
    // The lists a query's answer had cut go into its fields' `truncated` (merged by `merge`).
    const query = <K extends CommandName>(
      name: K,
      fill: (result: ResultOf<K>, cuts: Cuts) => GuestFields,
    ): Query => ({
      name,
      run: async () => {
        const cuts: Cuts = new Set();
        const fields = fill(await this.call(name), cuts);
        return cuts.size === 0 ? fields : Object.assign(fields, { truncated: [...cuts] });
      },
    });
    return [
      {
        name: "guest-get-time",
        run: async () => {
          const before = this.clock.now();
          const guestNs = await this.call("guest-get-time");
          return { time_offset_ms: timeOffsetMs(guestNs, before, this.clock.now()) };
        },
      },
      query("guest-get-host-name", (r) => ({ hostname: hostnameFrom(r, b) })),
      query("guest-get-osinfo", (r) => ({ os: osFrom(r, b) })),
      query("guest-get-timezone", (r) => ({ timezone: timezoneFrom(r, b) })),
      query("guest-network-get-interfaces", (r, cuts) => ({ interfaces: interfacesFrom(r, b, cuts) })),
      query("guest-get-fsinfo", (r, cuts) => ({ filesystems: filesystemsFrom(r, b, cuts) })),
      query("guest-get-users", (r, cuts) => ({ users: usersFrom(r, b, cuts) })),
      query("guest-get-vcpus", (r, cuts) => ({ vcpus: onlineVcpus(r, b, cuts) })),
      query("guest-get-load", (r) => ({ load: loadFrom(r) })),
      query("guest-get-cpustats", (r, cuts) => this.cpuFields(r, cuts)),
      query("guest-get-disks", (r, cuts) => ({ disks: disksFrom(r, b, cuts) })),
    ];
  }

  /**
   * cpu_pct needs a previous reading. The guest counts CPU time in clock ticks (10 ms): two polls within
   * a tick see no time pass, so the older reading stays the baseline and the last percentage stands.
   */
  private cpuFields(result: ResultOf<"guest-get-cpustats">, cuts: Cuts): GuestFields {
    const totals = cpuTotals(result, this.bounds, cuts);
    if (!totals) return {};
    const previous = this.cpu;
    if (!previous || cpuTotalMs(totals) !== cpuTotalMs(previous.totals)) {
      // Undefined also when the counters went backwards (the guest rebooted): this reading starts afresh.
      this.cpu = { totals, pct: previous && cpuPct(previous.totals, totals) };
    }
    const pct = this.cpu?.pct;
    return { cpu_seconds: cpuSecondsFrom(totals), ...(pct === undefined ? {} : { cpu_pct: pct }) };
  }
}

/**
 * Adds a query's answer to the fields collected so far. Each query fills members of its own, except
 * `truncated`, which every query that cut a list adds its names to (fitSnapshot orders them).
 */
function merge(fields: GuestFields, answer: GuestFields): void {
  const before: Truncated[] | undefined = fields.truncated;
  Object.assign(fields, answer);
  if (before !== undefined) fields.truncated = answer.truncated ? [...before, ...answer.truncated] : before;
}

/** The failures that end a collect, and the agent status they stand for. */
function haltOf(error: unknown): Halt | undefined {
  if (error instanceof AgentTimeoutError) return "unresponsive";
  if (error instanceof AgentUnavailableError) return "offline";
  if (error instanceof FrozenError) return "frozen";
  return undefined;
}
