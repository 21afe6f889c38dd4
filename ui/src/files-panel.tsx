import { useRef, useState } from "preact/hooks";
import type { Session } from "./connection.js";
import { bytes } from "./format.js";
import { getFile, MAX_BROWSER_BYTES, putFile, TransferCancelled, TransferError } from "./transfer.js";

type Label = "download" | "upload";
type Progress = { readonly label: Label; readonly bytes: number; readonly size: number };
type Result = { readonly kind: "ok" | "failed" | "cancelled"; readonly text: string };
const RESULT_CLASS = { ok: "ok", failed: "error", cancelled: "warn" } as const;

/**
 * Download and upload through the transfer verbs (any size up to MAX_BROWSER_BYTES, in parts, each
 * checked), each when the policy allows it. An upload the VM cannot rename into place is not silently
 * written in place: the person is asked to tick "Write in place" first. While one runs, Cancel stops it:
 * no part is sent or asked for after it, the worker aborts the transfer (frees its handle, removes an
 * upload's temporary file), and a download is not saved.
 */
export function FilesPanel({
  session,
  vm,
  read,
  write,
}: {
  session: Session;
  vm: string;
  read: boolean;
  write: boolean;
}) {
  const [path, setPath] = useState("");
  const [target, setTarget] = useState("");
  const [file, setFile] = useState<File | undefined>();
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<Progress | undefined>();
  const [result, setResult] = useState<Result | undefined>();
  const [atomicRefused, setAtomicRefused] = useState(false);
  const [inPlace, setInPlace] = useState(false);
  // The running transfer's; a ref, not state: Cancel must reach the very transfer it shows.
  const running = useRef<AbortController | undefined>(undefined);
  const [cancelling, setCancelling] = useState(false);
  const run = async (label: Label, body: (signal: AbortSignal) => Promise<string>) => {
    const controller = new AbortController();
    running.current = controller;
    setBusy(true);
    setCancelling(false);
    setResult(undefined);
    setProgress({ label, bytes: 0, size: 0 });
    try {
      setResult({ kind: "ok", text: `${label}: ok, ${await body(controller.signal)}` });
    } catch (error) {
      if (error instanceof TransferCancelled) {
        setResult({ kind: "cancelled", text: `${label} cancelled: ${error.message}` });
        return;
      }
      if (error instanceof TransferError && error.details.atomic_unavailable === true) setAtomicRefused(true);
      setResult({
        kind: "failed",
        text: `${label} failed: ${error instanceof Error ? error.message : String(error)}`,
      });
    } finally {
      running.current = undefined;
      setBusy(false);
      setCancelling(false);
    }
  };
  // A second press (a double click) finds the signal aborted already: the transfer is aborted once.
  const cancel = () => {
    setCancelling(true);
    running.current?.abort();
  };
  const onProgress = (label: Label) => (done: number, size: number) =>
    setProgress({ label, bytes: done, size });
  const download = (event: Event) => {
    event.preventDefault();
    void run("download", async (signal) => {
      const blob = await getFile(session, vm, path, onProgress("download"), signal);
      // Cancelled while the whole was hashed: the transfer had ended, but the person said no.
      if (signal.aborted) throw new TransferCancelled("nothing is saved");
      save(path, blob);
      return `${bytes(blob.size)} (${blob.size} bytes) of ${path}`;
    });
  };
  const upload = (event: Event) => {
    event.preventDefault();
    if (!file) return;
    void run("upload", async (signal) => {
      const end = await putFile(session, vm, target, file, onProgress("upload"), { inPlace, signal });
      const late = signal.aborted ? " (Cancel came after put-end was sent: the upload is complete)" : "";
      return `${bytes(end.bytes)} (${end.bytes} bytes) to ${end.path}, sha256 ${end.sha256}${late}`;
    });
  };
  return (
    <section aria-labelledby="files-title" class="panel">
      <h2 id="files-title">Files</h2>
      <p class="muted">
        In parts, each checked; up to {bytes(MAX_BROWSER_BYTES)} (the page holds a file in memory), larger
        with qga-mqtt cp.
      </p>
      {read ? (
        <form onSubmit={download} class="row-form">
          <label>
            File path
            <input value={path} required onInput={(e) => setPath(e.currentTarget.value)} />
          </label>
          <button type="submit" disabled={busy}>
            Download
          </button>
        </form>
      ) : null}
      {write ? (
        <form onSubmit={upload} class="row-form">
          <label>
            File to upload
            <input type="file" required onChange={(e) => setFile(e.currentTarget.files?.[0])} />
          </label>
          <label>
            Destination path
            <input value={target} required onInput={(e) => setTarget(e.currentTarget.value)} />
          </label>
          {atomicRefused ? (
            <label class="check">
              <input
                type="checkbox"
                checked={inPlace}
                onChange={(e) => setInPlace(e.currentTarget.checked)}
              />
              Write in place (no temporary file)
            </label>
          ) : null}
          <button type="submit" disabled={busy}>
            Upload
          </button>
        </form>
      ) : null}
      {write && atomicRefused ? (
        <p class="warn">
          This VM cannot rename a finished upload into place (its restrictions.exec or agent do not let
          /bin/mv run). Tick “Write in place” to write the destination directly: until the upload ends, the
          file there is incomplete.
        </p>
      ) : null}
      {progress ? (
        <p>
          <progress
            aria-label="Transfer progress"
            max={Math.max(progress.size, 1)}
            value={progress.size === 0 && !busy ? 1 : progress.bytes}
          />{" "}
          {progress.label}: {progress.bytes} of {progress.size} bytes{" "}
          {busy ? (
            <button
              type="button"
              aria-label={`Cancel ${progress.label}`}
              disabled={cancelling}
              onClick={cancel}
            >
              {cancelling ? "Cancelling…" : "Cancel"}
            </button>
          ) : null}
        </p>
      ) : null}
      <div role="status" aria-label="File result">
        {busy ? (
          <p>
            {progress?.label ?? "transfer"}: {cancelling ? "cancelling…" : "under way…"}
          </p>
        ) : null}
        {result ? <p class={RESULT_CLASS[result.kind]}>{result.text}</p> : null}
      </div>
    </section>
  );
}

function save(path: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = path.split("/").pop() || "download";
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
