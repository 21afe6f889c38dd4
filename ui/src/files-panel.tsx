import { useState } from "preact/hooks";
import { callVm, type Outcome } from "./call.js";
import type { Session } from "./connection.js";
import { OutcomeView } from "./outcome-view.js";

/** Small files only: one read-file or write-file request each (bigger ones: `qga-mqtt cp`). */
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;

/** Download and upload of small files with read-file and write-file, each when the policy allows it. */
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
  const [last, setLast] = useState<{ command: string; outcome: Outcome | "pending" } | undefined>();
  const download = async (event: Event) => {
    event.preventDefault();
    setLast({ command: "read-file", outcome: "pending" });
    const outcome = await callVm(session.requests, vm, "read-file", { path });
    setLast({ command: "read-file", outcome });
    if (outcome.kind === "reply" && outcome.reply.ok) save(path, outcome.reply.result);
  };
  const upload = async (event: Event) => {
    event.preventDefault();
    if (!file) return;
    if (file.size > MAX_UPLOAD_BYTES) {
      setLast({
        command: "write-file",
        outcome: { kind: "failed", message: `${file.name} is over 4 MiB: copy it with qga-mqtt cp` },
      });
      return;
    }
    setLast({ command: "write-file", outcome: "pending" });
    const content = toBase64(new Uint8Array(await file.arrayBuffer()));
    const outcome = await callVm(session.requests, vm, "write-file", {
      path: target,
      content,
      encoding: "base64",
    });
    setLast({ command: "write-file", outcome });
  };
  return (
    <section aria-labelledby="files-title" class="panel">
      <h2 id="files-title">Files</h2>
      {read ? (
        <form onSubmit={download} class="row-form">
          <label>
            File path
            <input value={path} required onInput={(e) => setPath(e.currentTarget.value)} />
          </label>
          <button type="submit">Download</button>
        </form>
      ) : null}
      {write ? (
        <form onSubmit={upload} class="row-form">
          <label>
            File to upload
            <input type="file" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
          </label>
          <label>
            Destination path
            <input value={target} required onInput={(e) => setTarget(e.currentTarget.value)} />
          </label>
          <button type="submit">Upload</button>
        </form>
      ) : null}
      <div role="status" aria-label="File result">
        {last ? <OutcomeView command={last.command} outcome={last.outcome} /> : null}
      </div>
    </section>
  );
}

function save(path: string, result: unknown): void {
  const { content, encoding } = (result ?? {}) as { content?: unknown; encoding?: unknown };
  if (typeof content !== "string") return;
  const data = encoding === "base64" ? fromBase64(content) : new TextEncoder().encode(content);
  // octet-stream: the browser keeps the guest's file name as it is (no extension added from sniffing).
  const url = URL.createObjectURL(new Blob([data as BlobPart], { type: "application/octet-stream" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = path.split("/").pop() || "download";
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function toBase64(data: Uint8Array): string {
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) text += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const data = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) data[i] = binary.charCodeAt(i);
  return data;
}
