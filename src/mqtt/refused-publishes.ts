import type { Logger } from "pino";
import { NOT_AUTHORIZED, type PublishRefusal } from "./publish-refusal.js";
import type { Grant, TopicKind, TopicKinds } from "./topic-kind.js";

/** Where refusals are counted (WorkerMetrics fits). */
export interface RefusalMetrics {
  observeRefusedPublish(kind: TopicKind): void;
}

export interface RefusedPublishesOptions {
  readonly log: Logger;
  readonly kinds: TopicKinds;
  readonly metrics?: RefusalMetrics;
}

/**
 * Distinct topics warned about per kind. A refused topic is refused again at every reconnect (retained
 * topics are republished) and for every VM (one discovery config each): warning once per topic, and for at
 * most this many topics of a kind, keeps a fleet of a thousand VMs from filling the log with one ACL line.
 */
const WARNED_TOPICS_PER_KIND = 10;

/**
 * The worker's answer to a publish the broker refuses: never fatal (the bus resolves it), counted by kind
 * of topic, and logged at warn once per topic with what to change, at debug after that.
 */
export class RefusedPublishes {
  readonly #warned = new Map<TopicKind, Set<string>>();

  constructor(private readonly options: RefusedPublishesOptions) {}

  report(refusal: PublishRefusal): void {
    const { log, kinds, metrics } = this.options;
    const { topic, reasonCode, reason } = refusal;
    const kind = kinds.kindOf(topic);
    metrics?.observeRefusedPublish(kind);
    const fields = { topic, topic_kind: kind, reasonCode, reason };
    let warned = this.#warned.get(kind);
    if (!warned) {
      warned = new Set();
      this.#warned.set(kind, warned);
    }
    if (warned.has(topic) || warned.size > WARNED_TOPICS_PER_KIND) {
      log.debug(fields, `the broker refused the publish to ${topic} again (${reason})`);
      return;
    }
    warned.add(topic);
    const what = `the broker refuses the worker's publish to ${topic} (${reason}, reason code ${reasonCode}): ${advice(reasonCode, kinds.grantFor(topic))}`;
    const after =
      warned.size > WARNED_TOPICS_PER_KIND
        ? `; more than ${WARNED_TOPICS_PER_KIND} ${kind} topics were refused: the next ones are logged at debug only`
        : "";
    log.warn(
      fields,
      `${what}. The worker goes on without this topic; it is warned about once, every refusal is counted in qga_mqtt_publish_refused_total${after}`,
    );
  }
}

/** What to change, for the reason codes a broker gives a publish it refuses. */
function advice(reasonCode: number, grant: Grant): string {
  switch (reasonCode) {
    case NOT_AUTHORIZED:
      return `its ACL does not let the worker's MQTT user write there: give that user write access to ${grant.filter} (mosquitto: "topic ${grant.access} ${grant.filter}" under the worker's user in the acl_file, as in config/mosquitto/acl)`;
    case 0x90:
      return "the broker does not accept this topic name";
    case 0x95:
      return "the message is larger than the broker accepts (mosquitto: message_size_limit, max_packet_size)";
    case 0x97:
      return "the broker's quota for this client is used up";
    case 0x99:
      return "the broker says the payload is not in the format it declares";
    default:
      return "see the broker's log for why";
  }
}
