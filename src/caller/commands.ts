import type { Logger } from "pino";
import { FleetCensus } from "../census/fleet-census.js";
import type { Config } from "../config/schema.js";
import { type CallRequest, call } from "./call.js";
import { connectCaller } from "./connect.js";
import { noWorkers, targetProblem } from "./known-target.js";
import { INVENTORY_WINDOW_MS, type Output } from "./output.js";
import { EXIT, exitCodeOf, inventoryTable, jsonLines, progressLine, summaryLine, table } from "./render.js";

export type { Output } from "./output.js";
export { runWatch } from "./watch.js";

/** `qga-mqtt call`: one request to a VM, a group or all; prints the replies; the exit code says how it went. */
export async function runCall(
  config: Config,
  request: CallRequest,
  json: boolean,
  out: Output,
  log: Logger,
): Promise<number> {
  const connection = await connectCaller(config, log);
  try {
    const census = new FleetCensus(connection.bus, connection.topics);
    connection.bus.onMessage((message) => census.offer(message));
    await census.read(INVENTORY_WINDOW_MS);
    const problem = targetProblem(
      request.target,
      census.vms(),
      census.workers,
      connection.topics.everyBridgeInfo(),
    );
    if (problem) {
      out.stderr(`${problem.message}\n`);
      return EXIT.usage;
    }
    const showProgress = out.progress === true && !json;
    const outcome = await call(connection, census, request, (_reply, counts) => {
      if (showProgress) out.stderr(`\r${progressLine(counts.received, counts.expected)}`);
    });
    if (showProgress) out.stderr("\r\u001b[2K");
    if (json) out.stdout(jsonLines(outcome, request.command, request.timeoutSeconds));
    else {
      out.stdout(table(outcome));
      out.stderr(summaryLine(outcome));
    }
    return exitCodeOf(outcome);
  } finally {
    await connection.bus.close();
  }
}

/** `qga-mqtt list`: the fleet as the workers' retained info describes it. */
export async function runList(config: Config, json: boolean, out: Output, log: Logger): Promise<number> {
  const connection = await connectCaller(config, log);
  try {
    const census = new FleetCensus(connection.bus, connection.topics);
    connection.bus.onMessage((message) => census.offer(message));
    await census.read(INVENTORY_WINDOW_MS);
    const vms = census.vms();
    if (census.workers.length === 0) {
      out.stderr(`${noWorkers(connection.topics.everyBridgeInfo())}\n`);
      return EXIT.noReply;
    }
    if (json) for (const vm of vms) out.stdout(`${JSON.stringify(vm)}\n`);
    else {
      out.stdout(inventoryTable(vms));
      out.stderr(`${vms.length} VMs on ${census.workers.length} workers\n`);
    }
    return vms.length > 0 ? EXIT.ok : EXIT.noReply;
  } finally {
    await connection.bus.close();
  }
}
