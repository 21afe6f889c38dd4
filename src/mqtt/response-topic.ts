/**
 * Where a request's MQTT 5 Response Topic may send its reply. The topic is the requester's words, and the
 * worker publishes with its own rights: without this rule a requester could make it publish onto another
 * VM's status, another worker's bridge info or Home Assistant's discovery topics, blanking sensors and
 * poisoning every worker's census. So nothing under the base topic but a caller's own
 * `<base>/bridge/<caller>/replies`, nothing under the discovery prefix, and, when the operator lists
 * `mqtt.responseTopicPrefixes`, nothing outside them.
 */
export interface ResponseTopicRules {
  readonly base: string;
  readonly discoveryPrefix: string;
  /** When set, a response topic must be one of these or below one of them. */
  readonly prefixes?: readonly string[];
}

const WHAT_TO_DO =
  "send no Response Topic (the reply then goes to <base>/<vm>/reply/<command>) or one of your own";

/** Why `topic` may not carry a reply, or undefined when it may. */
export function responseTopicProblem(topic: string, rules: ResponseTopicRules): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: MQTT forbids U+0000 in topics
  if (topic === "" || /[+#\u0000]/.test(topic)) {
    return "the Response Topic must be a topic a message can be published to (non-empty, no + or #)";
  }
  if (topic.startsWith("$"))
    return `the Response Topic must not start with '$' (reserved by brokers); ${WHAT_TO_DO}`;
  const under = (prefix: string) => topic === prefix || topic.startsWith(`${prefix}/`);
  if (under(rules.base)) {
    const rest = topic.slice(rules.base.length + 1).split("/");
    const callerReplies =
      rest.length === 3 && rest[0] === "bridge" && rest[1] !== "" && rest[2] === "replies";
    if (!callerReplies) {
      return `the Response Topic must not be under the base topic ${rules.base}/ other than ${rules.base}/bridge/<caller>/replies; ${WHAT_TO_DO}`;
    }
    // The callers' own topic (qga-mqtt call uses it) is allowed whatever the operator's prefixes say.
    return undefined;
  }
  if (under(rules.discoveryPrefix)) {
    return `the Response Topic must not be under the Home Assistant discovery prefix ${rules.discoveryPrefix}/; ${WHAT_TO_DO}`;
  }
  if (rules.prefixes && rules.prefixes.length > 0 && !rules.prefixes.some(under)) {
    return `the Response Topic must be under one of ${rules.prefixes.join(", ")} (mqtt.responseTopicPrefixes)`;
  }
  return undefined;
}
