import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { WorkerError } from "../errors.js";
import { authorize } from "./authorize.js";
import type { Policy } from "./policy.js";
import { failure, type Reply, retainedError } from "./reply.js";
import { parseRequest, payloadLimit, type Request } from "./request.js";
import { findRequestId } from "./request-id.js";

/** One request as it arrived on a command topic. */
export interface IncomingCommand {
  readonly command: string;
  readonly payload: Buffer;
  /** A retained publish (or the broker's stored copy): never executed. */
  readonly retain: boolean;
  /** Who asked, as the client claims it (MQTT 5 user property `requester`): unverified. */
  readonly requester?: string;
  /** Why the request's reply route (an MQTT 5 Response Topic) is refused: answered `invalid_payload`. */
  readonly routeProblem?: string;
}

export interface AdmitTarget {
  readonly vm: string;
  readonly groups: readonly string[];
  readonly log: Logger;
}

/** How far into a refused payload its id is looked for: a linear scan, a few ms at this size. */
const ID_SCAN_BYTES = 16 * 1024 * 1024;

/**
 * The request, or the reply that refuses it: a payload that is not a valid envelope, a refused reply
 * route, a retained publish, a command unknown or outside the VM's policy. Nothing refused here reaches
 * the agent.
 */
export function admit(
  target: AdmitTarget,
  incoming: IncomingCommand,
  policy: Policy,
  limits: Config["limits"],
  started: number,
): { readonly request: Request } | { readonly refusal: Reply } {
  const heading = { vm: target.vm, command: incoming.command };
  let request: Request;
  try {
    request = parseRequest(incoming.payload, limits, payloadLimit(incoming.command, limits));
  } catch (error) {
    // The refusal carries the id when one can be read, so that a 3.1.1 client can match it.
    const id = findRequestId(incoming.payload, ID_SCAN_BYTES);
    const cause = incoming.retain ? retainedError() : error;
    return { refusal: failure({ ...heading, id }, started, cause, target.log) };
  }
  const refuse = (error: unknown) => ({
    refusal: failure({ ...heading, id: request.id }, started, error, target.log),
  });
  if (incoming.routeProblem !== undefined)
    return refuse(new WorkerError("invalid_payload", incoming.routeProblem));
  if (incoming.retain) {
    target.log.warn({ command: incoming.command, id: request.id }, "refused a retained command");
    return refuse(retainedError());
  }
  try {
    authorize(policy, target.vm, target.groups, incoming.command);
  } catch (error) {
    return refuse(error);
  }
  return { request };
}
