import type { Requester, Target } from "./requests.js";
import type { CallReply } from "./schemas.js";

export type Outcome =
  | { readonly kind: "reply"; readonly reply: CallReply }
  | { readonly kind: "refused"; readonly message: string }
  | { readonly kind: "no_reply"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string };

/** Beyond the request's own timeout, how long a reply may take to come back through the broker. */
export const GRACE_MS = 5_000;

/** One request to one VM and its one reply (or why there is none). */
export function callVm(
  requests: Requester,
  vm: string,
  command: string,
  args: Record<string, unknown> | undefined,
  timeoutSeconds = 30,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const target: Target = { vm };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const handle = requests.send(target, command, args, timeoutSeconds, (reply) => {
      clearTimeout(timer);
      requests.forget(handle.id);
      resolve({ kind: "reply", reply });
    });
    handle.sent.then(
      () => {
        timer = setTimeout(
          () => {
            requests.forget(handle.id);
            resolve({ kind: "no_reply", message: `no reply within ${timeoutSeconds + GRACE_MS / 1000} s` });
          },
          timeoutSeconds * 1000 + GRACE_MS,
        );
      },
      (error: unknown) => resolve(failureOf(error)),
    );
  });
}

export function failureOf(error: unknown): Outcome {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof Error && error.name === "RefusedError"
    ? { kind: "refused", message }
    : { kind: "failed", message: `the request was not sent: ${message}` };
}

/** A one-line summary of an outcome, as `qga-mqtt call` prints it. */
export function summary(outcome: Outcome): string {
  if (outcome.kind !== "reply") return outcome.message;
  const { reply } = outcome;
  return reply.ok ? "ok" : `${reply.error?.code ?? "error"}: ${reply.error?.message ?? ""}`;
}
