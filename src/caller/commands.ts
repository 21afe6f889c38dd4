import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { FleetCensus } from "../inventory/census.js";
import { type CallRequest, call } from "./call.js";
import { connectCaller } from "./connect.js";
import { EXIT, exitCodeOf, inventoryTable, jsonLines, progressLine, summaryLine, table } from "./render.js";

export interface Output {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stderr is a terminal: a fleet call shows its progress there (never in --json mode). */
  readonly progress?: boolean;
}

/** The longest wait for the workers' retained info after subscribing (it usually ends sooner: see FleetCensus.read). */
const INVENTORY_WINDOW_MS = 500;

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

/** `qga-mqtt watch [vm]`: status, availability and events as they come, until `stop` resolves. */
export async function runWatch(
  config: Config,
  vm: string | undefined,
  json: boolean,
  out: Output,
  log: Logger,
  stop: Promise<unknown>,
): Promise<number> {
  const connection = await connectCaller(config, log);
  try {
    connection.bus.onMessage((message) => {
      const text = message.payload.toString("utf8");
      if (json)
        out.stdout(`${JSON.stringify({ topic: message.topic, retained: message.retain, payload: text })}\n`);
      else out.stdout(`${new Date().toISOString()} ${message.topic} ${text}\n`);
    });
    await connection.bus.subscribe(connection.topics.vmOutputs(vm));
    await stop;
    return EXIT.ok;
  } finally {
    await connection.bus.close();
  }
}
