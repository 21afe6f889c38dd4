import assert from "node:assert/strict";
import type { Received, TestClient } from "./mqtt-client.js";

export interface VmRequests {
  /** Publishes a request (a fresh id, 30 s timeout, whatever the worker's default); resolves with its reply. */
  request(vm: string, command: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** The result of a request that must succeed. */
  ok(vm: string, command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** The next availability change to `state` after message index `from` (a retained one counts). */
  availability(vm: string, state: string, from?: number): Promise<Received>;
}

/** Requests to the VMs of one worker, as the end-to-end tests send them over a subscribed TestClient. */
export function vmRequests(client: TestClient, base: string, idPrefix: string, waitMs: number): VmRequests {
  let counter = 0;
  const request = async (vm: string, command: string, args?: Record<string, unknown>) => {
    const id = `${idPrefix}${++counter}`;
    const reply = client.upcoming(`${base}/${vm}/reply/${command}`, (m) => client.json(m).id === id, 60_000);
    await client.publish(
      `${base}/${vm}/cmd/${command}`,
      JSON.stringify({ id, timeout: 30, ...(args && { args }) }),
    );
    return client.json(await reply);
  };
  return {
    request,
    async ok(vm, command, args) {
      const reply = await request(vm, command, args);
      assert.equal(reply.ok, true, `${command}: ${JSON.stringify(reply)}`);
      return reply.result;
    },
    availability(vm, state, from = 0) {
      return client.next(
        `${base}/${vm}/availability`,
        (m) => client.messages.indexOf(m) >= from && m.payload.toString() === state,
        waitMs,
      );
    },
  };
}
