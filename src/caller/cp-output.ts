import type { CallOutcome, Unreachable } from "./call.js";
import { formatBytes } from "./cp-progress.js";
import type { VmCopy } from "./cp-result.js";
import { formatRows, workerOfflineMessage } from "./render.js";

/** The copies as `call`'s outcome: the same exit codes and summary line. */
export function outcomeOf(
  expected: readonly string[],
  copies: readonly VmCopy[],
  unreachable: readonly Unreachable[],
): CallOutcome {
  return {
    expected,
    replies: copies
      .filter((copy) => !copy.noReply)
      .map((copy) => ({
        vm: copy.vm,
        command: "cp",
        ok: copy.ok,
        ms: copy.ms,
        ...(copy.error ? { error: copy.error } : {}),
      })),
    missing: copies.filter((copy) => copy.noReply).map((copy) => copy.vm),
    unreachable,
  };
}

/** One JSON line per VM: `{vm, ok, bytes, sha256, ms, path, sent, error?}`. */
export function cpJsonLines(copies: readonly VmCopy[], unreachable: readonly Unreachable[]): string {
  const lines = copies.map((copy) => ({
    vm: copy.vm,
    ok: copy.ok,
    bytes: copy.bytes,
    ...(copy.sha256 ? { sha256: copy.sha256 } : {}),
    ms: copy.ms,
    path: copy.path,
    sent: copy.moved,
    ...(copy.error ? { error: copy.error } : {}),
  }));
  const gone = unreachable.map(({ vm, worker }) => ({
    vm,
    ok: false,
    bytes: 0,
    ms: 0,
    sent: 0,
    error: { code: "worker_offline", message: workerOfflineMessage(vm, worker) },
  }));
  return [...lines, ...gone].map((line) => `${JSON.stringify(line)}\n`).join("");
}

/** A table for people, as `call`'s: one row per VM. */
export function cpTable(copies: readonly VmCopy[], unreachable: readonly Unreachable[], width = 120): string {
  const rows: string[][] = [["VM", "OK", "MS", "RESULT"]];
  for (const copy of [...copies].sort((a, b) => a.vm.localeCompare(b.vm))) {
    const ok = copy.noReply ? "-" : copy.ok ? "ok" : "FAIL";
    rows.push([copy.vm, ok, copy.ms.toFixed(1), describe(copy)]);
  }
  for (const { vm, worker } of unreachable) rows.push([vm, "-", "-", `worker offline: ${worker}`]);
  return formatRows(rows, width);
}

function describe(copy: VmCopy): string {
  if (copy.error) return `${copy.noReply ? "no reply" : copy.error.code}: ${copy.error.message}`;
  const size = formatBytes(copy.bytes, copy.bytes).replace(/^[^/]*\//, "");
  const resumed =
    copy.moved < copy.bytes
      ? `, resumed: ${formatBytes(copy.bytes - copy.moved, copy.bytes)} were there`
      : "";
  return `${copy.path} ${size} sha256 ${copy.sha256?.slice(0, 16)}…${resumed}`;
}
