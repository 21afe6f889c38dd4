import { within } from "../async/within.js";
import type { FleetCensus, InventoryVm } from "../census/fleet-census.js";
import type { IncomingMessage } from "../mqtt/bus.js";
import type { CallerConnection } from "./connect.js";
import { type CallReply, outgoingRequest } from "./request.js";
import { repeatable, resendUnanswered } from "./resend.js";
import { type CallTarget, commandTopic, expectedVms } from "./target.js";

export { CallReply } from "./request.js";

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
 * answered or the deadline passes; how replies are recognised depends on the protocol version in use
 * (see request.ts).
 */
export async function call(
  connection: CallerConnection,
  census: FleetCensus,
  request: CallRequest,
  onReply: (reply: CallReply, outcome: { received: number; expected: number }) => void = () => {},
): Promise<CallOutcome> {
  const { bus } = connection;
  const outgoing = outgoingRequest(
    connection,
    request.target,
    request.command,
    request.timeoutSeconds,
    request.args,
  );
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
    const reply = outgoing.replyIn(message);
    if (!reply || replies.has(reply.vm)) return;
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
  await bus.subscribe([outgoing.replyFilter]);
  await bus.publish(outgoing.topic, outgoing.payload, outgoing.options);
  const again = repeatable(expected, inventory, request.timeoutSeconds);
  const stopResending = resendUnanswered({
    untilMs: request.timeoutSeconds * 1000,
    unanswered: () => expected.filter((vm) => again.has(vm) && !replies.has(vm)),
    send: (vm) => {
      const topic = commandTopic(connection.topics, { kind: "vm", vm }, request.command);
      bus.publish(topic, outgoing.payload, outgoing.options).catch(() => {});
    },
  });
  await within(complete, request.timeoutSeconds * 1000 + TRANSPORT_MARGIN_MS);
  stopResending();
  return {
    expected,
    replies: [...replies.values()],
    missing: expected.filter((vm) => !replies.has(vm)),
    unreachable,
  };
}

/** The VMs of `vms` that the inventory lists only on workers whose state is `offline`. */
export function unreachableVms(vms: readonly string[], inventory: readonly InventoryVm[]): Unreachable[] {
  return vms.flatMap((vm) => {
    const servers = inventory.filter((entry) => entry.name === vm);
    if (servers.length === 0 || servers.some((entry) => entry.worker_state !== "offline")) return [];
    return [{ vm, worker: servers[0]!.worker }];
  });
}
