import { GRACE_MS } from "./call.js";
import type { Requester, Target } from "./requests.js";
import type { CallReply } from "./schemas.js";

export interface ResultRow {
  readonly vm: string;
  readonly outcome: "waiting" | "ok" | "error" | "no reply" | "refused" | "not sent";
  readonly code?: string;
  readonly message?: string;
  readonly ms?: number;
  readonly result?: unknown;
}

export interface ManyRequest {
  /** A group's topic (`all` included) reaches every member with one publish; else one publish per VM. */
  readonly target: { readonly group: string } | { readonly vms: readonly string[] };
  /** Who should answer (the members the bridge info names), for the rows that wait. */
  readonly expected: readonly string[];
  readonly command: string;
  readonly args?: Record<string, unknown>;
  readonly timeoutSeconds: number;
}

/**
 * Runs one command on many VMs as `qga-mqtt call` does, and reports the grid after every change. Resolves
 * once every row has its outcome (a reply, or none by the request's timeout plus a grace).
 */
export function runMany(
  requests: Requester,
  request: ManyRequest,
  update: (rows: ResultRow[]) => void,
): Promise<ResultRow[]> {
  const rows = new Map<string, ResultRow>(request.expected.map((vm) => [vm, { vm, outcome: "waiting" }]));
  const emit = () => update([...rows.values()]);
  const waiting = () => [...rows.values()].some((row) => row.outcome === "waiting");
  return new Promise((resolve) => {
    const ids: string[] = [];
    const finish = () => {
      clearTimeout(timer);
      for (const id of ids) requests.forget(id);
      emit();
      resolve([...rows.values()]);
    };
    const onReply = (reply: CallReply) => {
      rows.set(reply.vm, rowOf(reply));
      emit();
      if (!waiting()) finish();
    };
    const settle = (vms: readonly string[], outcome: ResultRow["outcome"], message: string) => {
      for (const vm of vms) if (rows.get(vm)?.outcome === "waiting") rows.set(vm, { vm, outcome, message });
      emit();
      if (!waiting()) finish();
    };
    const timer = setTimeout(
      () =>
        settle([...rows.keys()], "no reply", `no reply within ${request.timeoutSeconds + GRACE_MS / 1000} s`),
      request.timeoutSeconds * 1000 + GRACE_MS,
    );
    const targets: Array<{ target: Target; vms: readonly string[] }> =
      "group" in request.target
        ? [{ target: { group: request.target.group }, vms: request.expected }]
        : request.target.vms.map((vm) => ({ target: { vm }, vms: [vm] }));
    for (const { target, vms } of targets) {
      const handle = requests.send(target, request.command, request.args, request.timeoutSeconds, onReply);
      ids.push(handle.id);
      handle.sent.catch((error: unknown) => {
        const refused = error instanceof Error && error.name === "RefusedError";
        settle(vms, refused ? "refused" : "not sent", error instanceof Error ? error.message : String(error));
      });
    }
    emit();
    if (!waiting()) finish();
  });
}

function rowOf(reply: CallReply): ResultRow {
  return reply.ok
    ? {
        vm: reply.vm,
        outcome: "ok",
        ...(reply.ms !== undefined ? { ms: reply.ms } : {}),
        result: reply.result,
      }
    : {
        vm: reply.vm,
        outcome: "error",
        ...(reply.error ? { code: reply.error.code, message: reply.error.message } : {}),
        ...(reply.ms !== undefined ? { ms: reply.ms } : {}),
      };
}
