import { open } from "node:fs/promises";
import type { Logger } from "pino";
import { FleetCensus } from "../census/fleet-census.js";
import type { Config } from "../config/schema.js";
import { unreachableVms } from "./call.js";
import { connectCaller } from "./connect.js";
import type { CpPlan } from "./cp-args.js";
import { RequestChannel } from "./cp-channel.js";
import { getFromVm } from "./cp-get.js";
import { cpJsonLines, cpTable, outcomeOf } from "./cp-output.js";
import { CpProgress } from "./cp-progress.js";
import { hashFile, putToVm } from "./cp-put.js";
import type { VmCopy } from "./cp-result.js";
import { targetProblem } from "./known-target.js";
import { INVENTORY_WINDOW_MS, type Output } from "./output.js";
import { EXIT, exitCodeOf, summaryLine } from "./render.js";
import { expectedVms } from "./target.js";

export interface CpRequest {
  readonly plan: CpPlan;
  /** Each request's timeout (a part, the begin, the end). */
  readonly timeoutSeconds: number;
}

/** Parts of one put in flight at once (measured: see the README's `cp` section). */
export const PARTS_IN_FLIGHT = 4;
/** VMs of a group put served at once. */
export const VMS_AT_ONCE = 4;

/**
 * `qga-mqtt cp`: a file to a VM, a group or all (each member on its own, VMS_AT_ONCE at a time), or from one
 * VM; one line per VM and `call`'s exit codes. Running the same put again resumes it: the worker derives
 * the transfer from the VM, path, size and hash, and put-begin says how much is there already.
 */
export async function runCp(
  config: Config,
  request: CpRequest,
  json: boolean,
  out: Output,
  log: Logger,
): Promise<number> {
  const { plan } = request;
  const connection = await connectCaller(config, log);
  try {
    const census = new FleetCensus(connection.bus, connection.topics);
    const channel = new RequestChannel(connection, census, request.timeoutSeconds);
    await census.read(INVENTORY_WINDOW_MS);
    const target = plan.remote.target;
    const inventory = census.vms();
    const info = connection.topics.everyBridgeInfo();
    const problem = targetProblem(target, inventory, census.workers, info);
    if (problem) {
      out.stderr(`${problem.message}\n`);
      return EXIT.usage;
    }
    const addressed = expectedVms(target, inventory);
    const unreachable = unreachableVms(addressed, inventory);
    const gone = new Set(unreachable.map((entry) => entry.vm));
    const vms = addressed.filter((vm) => !gone.has(vm));
    const progress = new CpProgress(out.stderr, out.progress === true && !json);
    let copies: VmCopy[];
    try {
      copies =
        plan.direction === "get"
          ? await Promise.all(
              vms.map((vm) =>
                getFromVm(vm, {
                  channel,
                  path: plan.remote.path,
                  local: plan.local,
                  ...(plan.mode ? { mode: plan.mode } : {}),
                  progress,
                  inFlight: PARTS_IN_FLIGHT,
                }),
              ),
            )
          : await putAll(plan, vms, channel, progress);
    } finally {
      progress.clear();
    }
    const outcome = outcomeOf(addressed, copies, unreachable);
    if (json) out.stdout(cpJsonLines(copies, unreachable));
    else {
      out.stdout(cpTable(copies, unreachable));
      out.stderr(summaryLine(outcome));
    }
    return exitCodeOf(outcome);
  } finally {
    await connection.bus.close();
  }
}

async function putAll(
  plan: Extract<CpPlan, { direction: "put" }>,
  vms: readonly string[],
  channel: RequestChannel,
  progress: CpProgress,
): Promise<VmCopy[]> {
  if (vms.length === 0) return [];
  const handle = await open(plan.local, "r");
  try {
    const { size } = await handle.stat();
    const sha256 = await hashFile(plan.local, (bytes) => progress.update("sha256", bytes, size));
    progress.finish("sha256");
    const file = { handle, size, sha256 };
    return await eachAtMost(vms, VMS_AT_ONCE, (vm) =>
      putToVm(vm, {
        channel,
        file,
        path: plan.remote.path,
        ...(plan.mode ? { mode: plan.mode } : {}),
        ...(plan.inPlace ? { inPlace: true } : {}),
        inFlight: PARTS_IN_FLIGHT,
        progress,
      }),
    );
  } finally {
    await handle.close();
  }
}

/** `run` for every item, at most `limit` at once; the results in the items' order. */
async function eachAtMost<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await run(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
