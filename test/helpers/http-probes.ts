import http from "node:http";
import WebSocket from "ws";

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A GET as sent, path untouched (http.get does not normalise `..` or percent escapes), body as text. */
export function rawGet(
  host: string,
  port: number | string,
  requestPath: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path: requestPath, headers }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      })
      .on("error", reject);
  });
}

/**
 * Opens a bare WebSocket (subprotocol mqtt); resolves with the HTTP status of a refusal, "open", or
 * "failed" when no HTTP answer came.
 */
export function tryWebSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ["mqtt"], options);
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", () => resolve("failed"));
  });
}
