/** Why the dashboard could not start; `code` is stable, the message says what to do. */
export type DashboardErrorCode = "ui_missing" | "listen_failed" | "tls_files";

export class DashboardError extends Error {
  constructor(
    readonly code: DashboardErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DashboardError";
  }
}
