/**
 * Every topic of the public MQTT contract (shared/spec/mqtt-api.md), built and parsed in one place so that
 * no other module concatenates topic strings. Pure: no I/O, no logger.
 */

export type CommandTopic =
  | { readonly kind: "vm"; readonly vm: string; readonly command: string }
  | { readonly kind: "group"; readonly group: string; readonly command: string };

/** The group every VM is in. */
export const ALL_GROUP = "all";

/** Levels that cannot name a VM because the contract uses them for other topics (the config refuses them too). */
export const RESERVED_VM_LEVELS: readonly string[] = Object.freeze(["bridge", "group"]);

export function isReservedVmLevel(level: string): boolean {
  return RESERVED_VM_LEVELS.includes(level);
}

/**
 * Builders refuse a name that is not one clean topic level: a `/` would shift every level after it and a
 * `+` or `#` makes a topic no broker accepts for a publish, so a bad name fails here, loudly, instead of
 * reaching the wrong subscribers. Names are validated by the config schema already; this is the backstop.
 */
function level(what: string, value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: MQTT forbids U+0000 in topics
  if (value === "" || /[/+#\u0000]/.test(value)) {
    throw new TypeError(`${what} ${JSON.stringify(value)} is not a single MQTT topic level`);
  }
  return value;
}

/**
 * Throws for a topic no PUBLISH may carry: empty, or with a wildcard or NUL. A reply goes to a request's
 * Response Topic, which is untrusted input, so this guards every publish, not only built topics.
 */
export function assertPublishable(topic: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: MQTT forbids U+0000 in topics
  if (topic === "" || /[+#\u0000]/.test(topic)) {
    throw new TypeError(
      `cannot publish to ${JSON.stringify(topic)}: a topic must be non-empty, without + or #`,
    );
  }
}

export class Topics {
  /** `base` may have several levels (`site/qga`); each must be non-empty and free of wildcards. */
  constructor(
    readonly base: string,
    readonly worker: string,
  ) {
    for (const part of base.split("/")) level("base topic level", part);
    level("worker id", worker);
  }

  bridgeState(): string {
    return `${this.base}/bridge/${this.worker}/state`;
  }

  bridgeInfo(): string {
    return `${this.base}/bridge/${this.worker}/info`;
  }

  /** Subscription filter for the retained info of every worker on the broker. */
  everyBridgeInfo(): string {
    return `${this.base}/bridge/+/info`;
  }

  /** Subscription filter for the retained state (`online`/`offline`) of every worker on the broker. */
  everyBridgeState(): string {
    return `${this.base}/bridge/+/state`;
  }

  /** The worker whose info topic this is, or undefined. */
  parseBridgeInfo(topic: string): string | undefined {
    return this.bridgeTopicWorker(topic, "info");
  }

  /** The worker whose state topic this is, or undefined. */
  parseBridgeState(topic: string): string | undefined {
    return this.bridgeTopicWorker(topic, "state");
  }

  private bridgeTopicWorker(topic: string, leaf: string): string | undefined {
    const match = topic.startsWith(`${this.base}/bridge/`)
      ? topic.slice(this.base.length + 8).split("/")
      : [];
    return match.length === 2 && match[1] === leaf && match[0] !== "" ? match[0] : undefined;
  }

  availability(vm: string): string {
    return `${this.vmRoot(vm)}/availability`;
  }

  status(vm: string): string {
    return `${this.vmRoot(vm)}/status`;
  }

  event(vm: string): string {
    return `${this.vmRoot(vm)}/event`;
  }

  reply(vm: string, command: string): string {
    return `${this.vmRoot(vm)}/reply/${level("command", command)}`;
  }

  /** Where a request for one command of one VM is published (Home Assistant's buttons publish here). */
  command(vm: string, command: string): string {
    return `${this.vmRoot(vm)}/cmd/${level("command", command)}`;
  }

  /** Where a request for one command of every member of a group is published. */
  groupCommand(group: string, command: string): string {
    return `${this.base}/group/${level("group", group)}/cmd/${level("command", command)}`;
  }

  /** A caller's own reply topic (MQTT 5 Response Topic), under the bridge level: never a VM's. */
  callerReplies(): string {
    return `${this.base}/bridge/${this.worker}/replies`;
  }

  /** Subscription filter for every VM's replies to one command (MQTT 3.1.1 callers). */
  everyReply(command: string): string {
    return `${this.base}/+/reply/${level("command", command)}`;
  }

  /** Whether `topic` is some VM's reply to `command`. */
  isReply(topic: string, command: string): boolean {
    const prefix = `${this.base}/`;
    if (!topic.startsWith(prefix)) return false;
    const levels = topic.slice(prefix.length).split("/");
    return levels.length === 3 && levels[0] !== "" && levels[1] === "reply" && levels[2] === command;
  }

  /** Subscription filters for the status, availability and events of one VM, or of every VM. */
  vmOutputs(vm?: string): string[] {
    const root = vm === undefined ? `${this.base}/+` : this.vmRoot(vm);
    return [`${root}/status`, `${root}/availability`, `${root}/event`];
  }

  /** Subscription filter for every command of one VM. */
  vmCommands(vm: string): string {
    return `${this.vmRoot(vm)}/cmd/+`;
  }

  /** Subscription filter for every command sent to one group (`all` included). */
  groupCommands(group: string): string {
    return `${this.base}/group/${level("group", group)}/cmd/+`;
  }

  /**
   * The command a received topic addresses, or undefined for anything that is not exactly
   * `<base>/<vm>/cmd/<command>` or `<base>/group/<group>/cmd/<command>` with non-empty levels. Callers
   * log and drop undefined; nothing is guessed from a malformed topic.
   */
  parseCommand(topic: string): CommandTopic | undefined {
    const prefix = `${this.base}/`;
    if (!topic.startsWith(prefix)) return undefined;
    const levels = topic.slice(prefix.length).split("/");
    if (levels.some((part) => part === "" || part.includes("+") || part.includes("#"))) return undefined;
    if (levels.length === 4 && levels[0] === "group" && levels[2] === "cmd") {
      return { kind: "group", group: levels[1]!, command: levels[3]! };
    }
    if (levels.length === 3 && levels[1] === "cmd" && !isReservedVmLevel(levels[0]!)) {
      return { kind: "vm", vm: levels[0]!, command: levels[2]! };
    }
    return undefined;
  }

  private vmRoot(vm: string): string {
    level("VM name", vm);
    if (isReservedVmLevel(vm)) throw new TypeError(`"${vm}" is a reserved topic level and cannot name a VM`);
    return `${this.base}/${vm}`;
  }
}
