import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { FleetCensus, InventoryVm } from "../inventory/census.js";
import type { IncomingMessage } from "../mqtt/bus.js";
import type { CallerConnection } from "./connect.js";
import { type CallTarget, commandTopic, expectedVms } from "./target.js";

/** A reply as the workers publish it (commands/runner.ts); parsed loosely: the client only reads these. */
export const CallReply = z.looseObject({
  id: z.string().optional(),
  vm: z.string(),
  command: z.string(),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
  ms: z.number().optional(),
});
export type CallReply = z.infer<typeof CallReply>;

export interface CallRequest {
  readonly target: CallTarget;
  readonly command: string;
  readonly args?: Record<string, unknown>;
  /** The request's own timeout (seconds), also how long the client waits, plus a little for the trip. */
  readonly timeoutSeconds: number;
}

export interface CallOutcome {
  /** Who should answer, from the workers' inventory (empty when no worker has published one). */
  readonly expected: readonly string[];
  /** One reply per VM, in the order they arrived. */
  readonly replies: readonly CallReply[];
  /** Expected VMs that did not answer in time. */
  readonly missing: readonly string[];
  /** VMs whose every worker is offline (stopped, or dead: its will): not waited for. */
  readonly unreachable: readonly Unreachable[];
}

export interface Unreachable {
  readonly vm: string;
  readonly worker: string;
}

/** Extra wait past the request's timeout: the worker answers `timeout` itself, this covers the trip. */
const TRANSPORT_MARGIN_MS = 2_000;

/**
 * Sends one request (to a VM, a group or all) and collects the replies until every expected VM has
 * answered or the deadline passes. MQTT 5: the replies come to this client's own response topic with the
 * request's correlation data. MQTT 3.1.1: they come on the VMs' reply topics, matched by the request id.
 */
export async function call(
  connection: CallerConnection,
  census: FleetCensus,
  request: CallRequest,
  onReply: (reply: CallReply, outcome: { received: number; expected: number }) => void = () => {},
): Promise<CallOutcome> {
  const { bus, topics } = connection;
  const id = `${connection.id}-${randomBytes(4).toString("hex")}`;
  const v5 = bus.protocolVersion === 5;
  const replyTopic = v5 ? topics.callerReplies() : topics.everyReply(request.command);
  const correlation = Buffer.from(id);
  const inventory = census.vms();
  const unreachable = unreachableVms(expectedVms(request.target, inventory), inventory);
  const gone = new Set(unreachable.map((entry) => entry.vm));
  const expected = expectedVms(request.target, inventory).filter((vm) => !gone.has(vm));
  const replies = new Map<string, CallReply>();

  let finish: () => void = () => {};
  const complete = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const accept = (message: IncomingMessage): void => {
    if (
      v5
        ? message.topic !== replyTopic || !message.correlationData?.equals(correlation)
        : !topics.isReply(message.topic, request.command)
    )
      return;
    const reply = parseReply(message.payload);
    if (!reply || reply.id !== id || replies.has(reply.vm)) return;
    replies.set(reply.vm, reply);
    onReply(reply, { received: replies.size, expected: expected.length });
    if (expected.length > 0 && expected.every((vm) => replies.has(vm))) finish();
  };
  // Every addressed VM's worker is offline: nobody will answer, so nothing is sent or waited for.
  if (expected.length === 0 && unreachable.length > 0)
    return { expected, replies: [], missing: [], unreachable };
  bus.onMessage((message) => {
    if (!census.offer(message)) accept(message);
  });
  await bus.subscribe([replyTopic]);
  const payload = JSON.stringify({
    id,
    ...(request.args ? { args: request.args } : {}),
    timeout: request.timeoutSeconds,
  });
  await bus.publish(commandTopic(topics, request.target, request.command), payload, {
    qos: 1,
    ...(v5 ? { responseTopic: replyTopic, correlationData: correlation } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    complete,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, request.timeoutSeconds * 1000 + TRANSPORT_MARGIN_MS);
    }),
  ]);
  clearTimeout(timer);
  return {
    expected,
    replies: [...replies.values()],
    missing: expected.filter((vm) => !replies.has(vm)),
    unreachable,
  };
}

/** The VMs of `vms` that the inventory lists only on workers whose state is `offline`. */
function unreachableVms(vms: readonly string[], inventory: readonly InventoryVm[]): Unreachable[] {
  return vms.flatMap((vm) => {
    const servers = inventory.filter((entry) => entry.name === vm);
    if (servers.length === 0 || servers.some((entry) => entry.worker_state !== "offline")) return [];
    return [{ vm, worker: servers[0]!.worker }];
  });
}

function parseReply(payload: Buffer): CallReply | undefined {
  try {
    const reply = CallReply.safeParse(JSON.parse(payload.toString("utf8")));
    return reply.success ? reply.data : undefined;
  } catch {
    return undefined;
  }
}
