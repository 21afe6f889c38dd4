import type { InventoryVm } from "../census/fleet-census.js";
import type { CallOutcome, CallReply } from "./call.js";

/** Exit codes of `qga-mqtt call` (documented in the README). */
export const EXIT = { ok: 0, failed: 1, usage: 2, noReply: 3, broker: 4 } as const;

export function exitCodeOf(outcome: CallOutcome): number {
  if (outcome.missing.length > 0 || outcome.unreachable.length > 0 || outcome.replies.length === 0)
    return EXIT.noReply;
  return outcome.replies.every((reply) => reply.ok) ? EXIT.ok : EXIT.failed;
}

/** One JSON line per VM: the reply as the worker sent it, or the client's own `no_reply` for a silent VM. */
export function jsonLines(outcome: CallOutcome, command: string, timeoutSeconds: number): string {
  const silent = outcome.missing.map((vm) => ({
    vm,
    command,
    ok: false,
    error: {
      code: "no_reply",
      message: `no reply within ${timeoutSeconds} s (is the worker serving ${vm} running?)`,
    },
  }));
  const gone = outcome.unreachable.map(({ vm, worker }) => ({
    vm,
    command,
    ok: false,
    error: { code: "worker_offline", message: workerOfflineMessage(vm, worker) },
  }));
  return [...outcome.replies, ...silent, ...gone].map((line) => `${JSON.stringify(line)}\n`).join("");
}

export function workerOfflineMessage(vm: string, worker: string): string {
  return `the worker ${worker} that serves ${vm} is offline (stopped, or gone: its last will); the request was not sent to it`;
}

/** A table for people: one row per VM, the result or error in one line each. */
export function table(outcome: CallOutcome, width = 100): string {
  const rows: string[][] = [["VM", "OK", "MS", "RESULT"]];
  for (const reply of [...outcome.replies].sort((a, b) => a.vm.localeCompare(b.vm))) {
    rows.push([reply.vm, reply.ok ? "ok" : "FAIL", reply.ms?.toFixed(1) ?? "-", summary(reply)]);
  }
  for (const vm of outcome.missing) rows.push([vm, "-", "-", "no reply"]);
  for (const { vm, worker } of outcome.unreachable) rows.push([vm, "-", "-", `worker offline: ${worker}`]);
  return formatRows(rows, width);
}

/** "12/40 replied", or "12 replied" when nobody said who should answer. */
export function progressLine(received: number, expected: number): string {
  return expected > 0 ? `${received}/${expected} replied` : `${received} replied`;
}

export function summaryLine(outcome: CallOutcome): string {
  const ok = outcome.replies.filter((r) => r.ok).length;
  const failed = outcome.replies.length - ok;
  const expected = outcome.expected.length > 0 ? `${outcome.expected.length} expected, ` : "";
  const gone = outcome.unreachable.length > 0 ? `, ${outcome.unreachable.length} worker offline` : "";
  return `${expected}${outcome.replies.length} replied: ${ok} ok, ${failed} failed, ${outcome.missing.length} no reply${gone}\n`;
}

export function inventoryTable(vms: readonly InventoryVm[]): string {
  const rows = [["VM", "WORKER", "AGENT", "GROUPS"]];
  for (const vm of vms) {
    // A stopped or dead worker's VMs are unreachable, whatever its last info said of their agents.
    const worker = vm.worker_state === "offline" ? `${vm.worker} (offline)` : vm.worker;
    const agent = vm.worker_state === "offline" ? "unreachable" : vm.agent;
    rows.push([vm.name, worker, agent, vm.groups.join(",") || "-"]);
  }
  return formatRows(rows, 200);
}

function summary(reply: CallReply): string {
  if (!reply.ok) return `${reply.error?.code ?? "error"}: ${reply.error?.message ?? ""}`;
  return reply.result === undefined ? "" : JSON.stringify(reply.result);
}

export function formatRows(rows: readonly string[][], width: number): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows
    .map((row) => {
      const line = row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join("  ");
      return `${line.length > width ? `${line.slice(0, width - 1)}…` : line}\n`;
    })
    .join("");
}
