import { z } from "zod";
import { within } from "../async/within.js";
import type { FleetCensus } from "../census/fleet-census.js";
import type { IncomingMessage } from "../mqtt/bus.js";
import type { CallerConnection } from "./connect.js";
import { CallReply } from "./request.js";

/** A VM's refusal of a request: its code, message and details as the worker sent them. */
export class ReplyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ReplyError";
  }
}

/** No reply within the request's timeout (plus the trip): the VM's worker is gone, hung or cut off. */
export class NoReplyError extends Error {
  constructor(
    readonly vm: string,
    readonly command: string,
    timeoutSeconds: number,
  ) {
    super(`no reply to ${command} within ${timeoutSeconds} s (is the worker serving ${vm} running?)`);
    this.name = "NoReplyError";
  }
}

/** An error's details, loosely: `received` (the transfer verbs' resync point) and `atomic_unavailable`. */
const Details = z.looseObject({
  received: z.number().int().nonnegative().optional(),
  /** put-begin: an atomic put cannot rename in this guest (no guest-exec, or /bin/mv not allowed). */
  atomic_unavailable: z.literal(true).optional(),
});

interface Pending {
  readonly vm: string;
  readonly command: string;
  readonly correlation: Buffer;
  readonly resolve: (reply: CallReply) => void;
}

/** Extra wait past a request's own timeout: the worker answers `timeout` itself, this covers the trip. */
const TRANSPORT_MARGIN_MS = 2_000;

/**
 * Many requests to single VMs over one connection, each awaited on its own (several in flight): what a
 * transfer needs, where `call` sends one request and collects its replies. Ids are this client's id and a
 * counter, unique for the connection's life (a worker remembers ids to answer repeats: see
 * commands/dedupe.ts). MQTT 5: the replies come to the client's response topic with the id as correlation
 * data; 3.1.1: on the VMs' reply topics, subscribed per command as it is first used.
 */
export class RequestChannel {
  private readonly pending = new Map<string, Pending>();
  private readonly subscribed = new Map<string, Promise<void>>();
  private sent = 0;

  constructor(
    private readonly connection: CallerConnection,
    census: FleetCensus,
    readonly timeoutSeconds: number,
  ) {
    connection.bus.onMessage((message) => {
      if (!census.offer(message)) this.accept(message);
    });
  }

  /** The reply's `result` when ok; else rejects with ReplyError (the VM said no) or NoReplyError. */
  async request(vm: string, command: string, args: Record<string, unknown>): Promise<unknown> {
    const { bus, topics } = this.connection;
    const v5 = bus.protocolVersion === 5;
    const filter = v5 ? topics.callerReplies() : topics.everyReply(command);
    await this.subscribe(filter);
    this.sent += 1;
    const id = `${this.connection.id}-${this.sent}`;
    const correlation = Buffer.from(id);
    const reply = new Promise<CallReply>((resolve) => {
      this.pending.set(id, { vm, command, correlation, resolve });
    });
    // The wait starts now, before the publish, as the request's own timeout does in the worker.
    const waiting = within(reply, this.timeoutSeconds * 1000 + TRANSPORT_MARGIN_MS);
    try {
      await bus.publish(
        topics.command(vm, command),
        JSON.stringify({ id, args, timeout: this.timeoutSeconds }),
        {
          qos: 1,
          ...(v5 ? { responseTopic: filter, correlationData: correlation } : {}),
        },
      );
      const settled = await waiting;
      if (settled === undefined) throw new NoReplyError(vm, command, this.timeoutSeconds);
      const answer = settled.value;
      if (answer.ok) return answer.result;
      // The worker puts an error's details beside its code and message (errors.ts); the design named them
      // error.details: either is read.
      const details = Details.safeParse(answer.error?.details ?? answer.error ?? {});
      throw new ReplyError(
        answer.error?.code ?? "error",
        answer.error?.message ?? `${command} failed without saying why`,
        details.success ? details.data : {},
      );
    } finally {
      this.pending.delete(id);
    }
  }

  private subscribe(filter: string): Promise<void> {
    let done = this.subscribed.get(filter);
    if (!done) {
      done = this.connection.bus.subscribe([filter]);
      this.subscribed.set(filter, done);
    }
    return done;
  }

  private accept(message: IncomingMessage): void {
    if (this.pending.size === 0) return;
    const { bus, topics } = this.connection;
    const v5 = bus.protocolVersion === 5;
    if (v5 && message.topic !== topics.callerReplies()) return;
    const reply = parse(message.payload);
    const pending = reply?.id === undefined ? undefined : this.pending.get(reply.id);
    if (!reply || !pending || reply.vm !== pending.vm || reply.command !== pending.command) return;
    if (v5 && !message.correlationData?.equals(pending.correlation)) return;
    if (!v5 && !topics.isReply(message.topic, pending.command)) return;
    pending.resolve(reply);
  }
}

function parse(payload: Buffer): CallReply | undefined {
  try {
    const reply = CallReply.safeParse(JSON.parse(payload.toString("utf8")));
    return reply.success ? reply.data : undefined;
  } catch {
    return undefined;
  }
}
