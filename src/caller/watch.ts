import type { Logger } from "pino";
import { FleetCensus } from "../census/fleet-census.js";
import type { Config } from "../config/schema.js";
import { unreachableVms } from "./call.js";
import { connectCaller } from "./connect.js";
import { noWorkers, targetProblem } from "./known-target.js";
import { INVENTORY_WINDOW_MS, type Output } from "./output.js";
import { EXIT, workerOfflineMessage } from "./render.js";
import { type OutgoingRequest, outgoingRequest } from "./request.js";
import { banner, jsonLine, statusRefused, textLine } from "./watch-output.js";

/**
 * `qga-mqtt watch [vm]`: status, availability and events as they come, until `stop` resolves. The broker
 * hands over the retained status and availability at once; for one VM a fresh status is asked for too (the
 * `status` command, if the policy allows it: the reply says), since a status is otherwise published only
 * on change and on the heartbeat. Problems (an unknown VM, no worker, a refused request) go to stderr and
 * the watch goes on: what is watched may appear later.
 */
export async function runWatch(
  config: Config,
  vm: string | undefined,
  json: boolean,
  out: Output,
  log: Logger,
  stop: Promise<unknown>,
): Promise<number> {
  const connection = await connectCaller(config, log);
  const { bus, topics } = connection;
  try {
    const census = new FleetCensus(bus, topics);
    let request: OutgoingRequest | undefined;
    bus.onMessage((message) => {
      if (census.offer(message)) return;
      if (request?.onReplyTopic(message)) {
        // The fresh status itself comes on the status topic; the reply only matters when it is a refusal.
        const reply = request.replyIn(message);
        if (reply && !reply.ok && vm !== undefined) out.stderr(statusRefused(vm, reply));
        return;
      }
      out.stdout(json ? jsonLine(message) : textLine(message));
    });
    await census.read(INVENTORY_WINDOW_MS);
    const inventory = census.vms();
    const info = topics.everyBridgeInfo();
    const problem =
      vm !== undefined
        ? targetProblem({ kind: "vm", vm }, inventory, census.workers, info)?.message
        : census.workers.length === 0
          ? noWorkers(info)
          : undefined;
    const offline =
      vm !== undefined && problem === undefined ? unreachableVms([vm], inventory)[0] : undefined;
    const asking = vm !== undefined && problem === undefined && offline === undefined;
    if (!json) {
      out.stderr(
        banner({
          vm,
          url: connection.url,
          base: topics.base,
          heartbeatSeconds: config.status.heartbeatSeconds,
          asking,
        }),
      );
    }
    if (problem) out.stderr(`${problem}; watching anyway\n`);
    if (offline) out.stderr(`${workerOfflineMessage(offline.vm, offline.worker)}; watching anyway\n`);
    if (asking) {
      request = outgoingRequest(
        connection,
        { kind: "vm", vm },
        "status",
        config.limits.defaultTimeoutSeconds,
      );
    }
    await bus.subscribe([...topics.vmOutputs(vm), ...(request ? [request.replyFilter] : [])]);
    if (request && vm !== undefined) {
      // Not fatal: the watch is still worth having without it (a broker ACL may forbid command topics).
      await bus
        .publish(request.topic, request.payload, request.options)
        .catch((error: Error) => out.stderr(`could not ask ${vm} for a fresh status: ${error.message}\n`));
    }
    await stop;
    return EXIT.ok;
  } finally {
    await bus.close();
  }
}
