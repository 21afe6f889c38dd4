import type { Restriction } from "../config/schema.js";
import { WorkerError } from "../errors.js";
import type { ArgsOf, CommandName, ResultOf } from "../qga/catalogue/index.js";
import type { CallOptions, GuestAgent } from "../qga/client.js";
import { authorizeEnv } from "./exec-env.js";
import { type FlavourSource, flavourOfOsId, type KnownFlavour, type PathFlavour } from "./path-flavour.js";
import { authorizeFile, authorizeProgram } from "./paths.js";

/** What a request may use of a VM's agent: every call goes through the VM's restrictions. */
export type RequestAgent = Pick<GuestAgent, "call" | "execute">;

/** Commands that act on a handle from guest-file-open. */
const HANDLE_COMMANDS = new Set<string>([
  "guest-file-read",
  "guest-file-write",
  "guest-file-seek",
  "guest-file-flush",
  "guest-file-close",
]);

// Handles and pids this worker may use under a restriction. More than any verb or script holds at once;
// a requester who opens without closing meets the bound, not the worker's memory.
const MAX_HANDLES = 256;
const MAX_PIDS = 256;

/**
 * A VM's agent as requests see it: the VM's restrictions apply to whatever reaches the agent, the worker's
 * verbs and raw commands alike, so that `cmd/guest-exec` or `cmd/guest-file-open` cannot do what `exec`
 * or `read-file` may not.
 *
 * - `guest-exec`: the program must match `restrictions.*.exec` and `env` pass `restrictions.*.env`
 *   (see exec-env.ts); `guest-exec-status` only for pids started through here.
 * - `guest-file-open`: the path must be within `restrictions.*.files`; the other file commands only on
 *   handles opened through here (handles are global to the agent: another client's, or one guessed,
 *   would reach any file).
 *
 * Paths are normalised and the normalised path is what the agent is sent: what was checked is what runs.
 * How the guest reads paths (POSIX or Windows) is `pathFlavour`; `auto` asks guest-get-osinfo once, the
 * first time a restricted path needs judging, and refuses such paths while the agent cannot tell.
 * Arguments that cannot be judged (a path that is not a string) go on unchanged to the catalogue's schema,
 * which refuses them before anything is sent. One per VM: handles and pids belong to its agent.
 */
export class RestrictedAgent implements RequestAgent, FlavourSource {
  private readonly handles = new Set<number>();
  private readonly pids = new Set<number>();
  private opening = 0;
  /** What guest-get-osinfo said, and the agent's capabilities then: a reconnect (a reboot) asks again. */
  private learned: { flavour: PathFlavour; with: object | undefined } | undefined;
  private asking: Promise<KnownFlavour> | undefined;

  constructor(
    private readonly agent: GuestAgent,
    private readonly restriction: Restriction,
    private readonly vm: string,
  ) {}

  call<K extends CommandName>(name: K, args?: ArgsOf<K>, options?: CallOptions): Promise<ResultOf<K>> {
    return this.execute(name, args, options) as Promise<ResultOf<K>>;
  }

  async execute(name: string, args: unknown, options?: CallOptions): Promise<unknown> {
    const { exec, files } = this.restriction;
    if (exec === undefined && files === undefined) return this.agent.execute(name, args, options);
    // Only a path to judge needs the guest's flavour (a ping or a status poll never waits for it).
    const judgesPath =
      (name === "guest-exec" && exec !== undefined) || (name === "guest-file-open" && files !== undefined);
    const checked = this.authorize(name, args, judgesPath ? await this.pathFlavour() : "posix");
    if (name !== "guest-file-open" || files === undefined) {
      const result = await this.agent.execute(name, checked, options);
      this.observe(name, checked, result);
      return result;
    }
    this.opening++;
    try {
      const handle = await this.agent.execute(name, checked, options);
      this.observe(name, checked, handle);
      return handle;
    } finally {
      this.opening--;
    }
  }

  /**
   * How this VM's guest reads paths: as configured, else as its agent's guest-get-osinfo said, else
   * "unknown" (the agent did not answer it; asked again next time). Learned once per connection: a VM
   * reinstalled with another OS reboots, and the agent's new capabilities make it ask again. Without an
   * exec or files restriction nothing is judged and nothing asked: "posix" normalises as ever, Windows
   * paths go as given.
   */
  async pathFlavour(): Promise<KnownFlavour> {
    const { pathFlavour, exec, files } = this.restriction;
    if (pathFlavour === "posix" || pathFlavour === "windows") return pathFlavour;
    if (exec === undefined && files === undefined) return "posix";
    const learned = this.learned;
    if (learned && learned.with !== undefined && learned.with === this.agent.capabilities) {
      return learned.flavour;
    }
    this.asking ??= this.agent
      .call("guest-get-osinfo")
      .then((info) => {
        const flavour = flavourOfOsId(info.id);
        this.learned = { flavour, with: this.agent.capabilities };
        return flavour;
      })
      .catch((): KnownFlavour => "unknown")
      .finally(() => {
        this.asking = undefined;
      });
    return this.asking;
  }

  /** The arguments to send (paths normalised), or `forbidden`. */
  private authorize(name: string, args: unknown, flavour: KnownFlavour): unknown {
    if (typeof args !== "object" || args === null || Array.isArray(args)) return args;
    const given = args as Record<string, unknown>;
    const { exec, files } = this.restriction;
    if (name === "guest-exec" && exec !== undefined) {
      authorizeEnv(given.env, this.restriction.env, this.vm);
      if (typeof given.path !== "string") return args;
      return Object.assign({}, given, { path: authorizeProgram(given.path, exec, this.vm, flavour) });
    }
    if (name === "guest-exec-status" && exec !== undefined) {
      if (typeof given.pid === "number" && !this.pids.has(given.pid)) {
        throw new WorkerError(
          "forbidden",
          `pid ${given.pid} was not started through this worker's exec on ${this.vm} (restrictions: exec)`,
        );
      }
      return args;
    }
    if (name === "guest-file-open" && files !== undefined) {
      if (this.handles.size + this.opening >= MAX_HANDLES) {
        throw new WorkerError(
          "busy",
          `${MAX_HANDLES} files opened through this worker on ${this.vm} are still open; close some with guest-file-close`,
        );
      }
      if (typeof given.path !== "string") return args;
      return Object.assign({}, given, { path: authorizeFile(given.path, files, this.vm, flavour) });
    }
    if (HANDLE_COMMANDS.has(name) && files !== undefined) {
      if (typeof given.handle === "number" && !this.handles.has(given.handle)) {
        throw new WorkerError(
          "forbidden",
          `handle ${given.handle} was not opened through an allowed path on ${this.vm} (restrictions: files)`,
        );
      }
    }
    return args;
  }

  /** Learns the handles and pids the agent hands out, and forgets closed handles. */
  private observe(name: string, args: unknown, result: unknown): void {
    if (name === "guest-file-open" && typeof result === "number") this.handles.add(result);
    else if (name === "guest-file-close") this.handles.delete((args as { handle: number }).handle);
    else if (name === "guest-exec" && typeof result === "object" && result !== null) {
      const pid = (result as { pid?: unknown }).pid;
      if (typeof pid !== "number") return;
      this.pids.delete(pid);
      this.pids.add(pid);
      // Oldest first: a pid started long ago and never asked about is the one to let go.
      if (this.pids.size > MAX_PIDS) this.pids.delete(this.pids.values().next().value as number);
    }
  }
}
