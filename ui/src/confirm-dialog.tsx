import { useEffect, useRef } from "preact/hooks";

interface Props {
  readonly verb: string;
  readonly vm: string;
  readonly onConfirm: () => void;
  readonly onClose: () => void;
}

/**
 * A modal <dialog> (showModal: the page behind is inert, so focus stays inside; Escape cancels), named
 * "Confirm <verb>". Focus starts on Cancel: Enter alone never powers a guest off.
 */
export function ConfirmDialog({ verb, vm, onConfirm, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    const opener = document.activeElement as HTMLElement | null;
    element.showModal();
    cancel.current?.focus();
    return () => {
      if (element.open) element.close();
      opener?.focus();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      aria-label={`Confirm ${verb}`}
      aria-describedby="confirm-text"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <h2>Confirm {verb}</h2>
      <p id="confirm-text">
        Send <code>{verb}</code> to <strong>{vm}</strong>? The guest{" "}
        {verb === "reboot" ? "restarts" : "stops"}.
      </p>
      <div class="actions">
        <button type="button" ref={cancel} onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          class="danger"
          onClick={() => {
            onClose();
            onConfirm();
          }}
        >
          {verb} {vm}
        </button>
      </div>
    </dialog>
  );
}
