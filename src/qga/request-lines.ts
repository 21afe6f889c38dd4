import { randomInt } from "node:crypto";
import type { AgentRequest } from "./link.js";

/** Resets the agent's parser, discarding any half-written request, ahead of a sync request. */
export const SYNC_DELIMITER = Buffer.from([0xff]);
/** The agent's integers are int64, but ids must stay exact in a JS number. */
const MAX_SYNC_ID = 2 ** 31;

export function newSyncId(): number {
  return randomInt(1, MAX_SYNC_ID);
}

export function syncRequest(id: number): string {
  return JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } });
}

/**
 * What is written for one request: the command, with `id` where the agent echoes ids, followed by the sync
 * `ackSyncId` for a command that answers nothing on success (a sync reply with no error before it means
 * the agent accepted the command).
 */
export function requestLine(
  request: AgentRequest,
  id: string | undefined,
  ackSyncId: number | undefined,
): string {
  const message: Record<string, unknown> = { execute: request.execute };
  if (request.arguments && Object.keys(request.arguments).length > 0) message.arguments = request.arguments;
  if (id !== undefined) message.id = id;
  const line = JSON.stringify(message);
  return ackSyncId === undefined ? line : line + syncRequest(ackSyncId);
}
