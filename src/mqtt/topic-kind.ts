/**
 * What a topic the worker publishes to is for, as a small fixed set: a metric label must never be the
 * topic itself (one per VM, per command, per caller: unbounded), and an operator fixing an ACL needs the
 * filter to grant, not the one topic that was refused.
 */
export const TOPIC_KINDS = [
  "bridge_state",
  "bridge_info",
  "caller_reply",
  "availability",
  "status",
  "event",
  "reply",
  "command",
  "discovery",
  "other",
] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

/** The ACL entry that lets the worker publish there (mosquitto spelling of the access). */
export interface Grant {
  readonly filter: string;
  readonly access: "readwrite" | "write";
}

const VM_OUTPUTS: Readonly<Record<string, TopicKind>> = {
  availability: "availability",
  status: "status",
  event: "event",
};

export class TopicKinds {
  /** `discoveryPrefix`: Home Assistant's, when discovery is on. */
  constructor(
    private readonly base: string,
    private readonly discoveryPrefix?: string,
  ) {}

  kindOf(topic: string): TopicKind {
    if (this.discoveryPrefix !== undefined && topic.startsWith(`${this.discoveryPrefix}/`))
      return "discovery";
    if (!topic.startsWith(`${this.base}/`)) return "other";
    const levels = topic.slice(this.base.length + 1).split("/");
    const [first, second, third] = levels;
    if (levels.length === 3 && first === "bridge") {
      if (third === "state") return "bridge_state";
      if (third === "info") return "bridge_info";
      if (third === "replies") return "caller_reply";
      return "other";
    }
    if (levels.length === 2 && second !== undefined) return VM_OUTPUTS[second] ?? "other";
    if (levels.length === 3 && second === "reply") return "reply";
    if (
      (levels.length === 3 && second === "cmd") ||
      (levels.length === 4 && first === "group" && third === "cmd")
    )
      return "command";
    return "other";
  }

  /**
   * What to grant the worker's user, as config/mosquitto/acl does: the whole base topic, the discovery
   * configs (which the worker also reads back at start), or, for a topic outside both (a request's Response
   * Topic), write on that topic.
   */
  grantFor(topic: string): Grant {
    const kind = this.kindOf(topic);
    if (kind === "discovery")
      return { filter: `${this.discoveryPrefix}/device/+/config`, access: "readwrite" };
    if (kind === "other" && !topic.startsWith(`${this.base}/`)) return { filter: topic, access: "write" };
    return { filter: `${this.base}/#`, access: "readwrite" };
  }
}
