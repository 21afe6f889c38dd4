import { withinOrFail } from "../async/within.js";
import type { DomainEvent, DomainRef, LibvirtConnection } from "../libvirt/index.js";
import { ErrorNumber, LibvirtError } from "../libvirt/index.js";
import { AgentReplyError, AgentTimeoutError, AgentUnavailableError, type QgaError } from "./errors.js";
import type { AgentLink, AgentRequest, LinkOpener, LinkOptions, SendOptions } from "./link.js";
import { parseReplyText } from "./reply.js";

/** What a link uses of its own libvirt connection: commands only. */
export type LibvirtAgentApi = Pick<
  LibvirtConnection,
  "isOpen" | "agentCommand" | "shutdownWithAgent" | "rebootWithAgent" | "onClose" | "close"
>;

/** The libvirt side of the links: one shared connection for lookups and events, one of its own per link. */
export interface LibvirtLinks {
  /** The worker's shared connection (also discovery's). */
  shared(): Promise<Pick<LibvirtConnection, "lookupDomain">>;
  /** Every domain's lifecycle and agent events, from the shared connection; returns the unsubscribe. */
  events(listener: (event: DomainEvent) => void): () => void;
  /** A connection for one link's commands, registered for no events. */
  connect(timeoutMs: number): Promise<LibvirtAgentApi>;
}

/**
 * Links to a libvirt domain's agent. libvirtd holds the agent socket for the VM's life and syncs with
 * the agent itself, so each command goes through virDomainQemuAgentCommand; guest-shutdown uses libvirt's
 * own shutdown and reboot, which wait for QEMU's SHUTDOWN/RESET event.
 *
 * A running domain's link has a connection of its own for its commands: libvirtd serves at most 5 calls of
 * one client at a time (max_client_requests) and stops reading its socket beyond that, so on a shared
 * connection five hung agents would stall every VM. A connection costs a socket and ~10 ms to open, so the
 * lookup that finds a domain not running (retried at every backoff step) goes over the shared one.
 */
export function libvirtLinkOpener(domain: string, libvirt: LibvirtLinks): LinkOpener {
  const open = async (options: LinkOptions): Promise<AgentLink> => {
    let ref: DomainRef;
    try {
      ref = await (await libvirt.shared()).lookupDomain(domain);
    } catch (error) {
      throw toQgaError(error, "guest-info", domain);
    }
    if (ref.id < 0) throw new AgentUnavailableError(`the libvirt domain ${domain} is not running`);
    let connection: LibvirtAgentApi;
    try {
      connection = await libvirt.connect(options.connectTimeoutMs);
    } catch (error) {
      throw toQgaError(error, "guest-info", domain);
    }
    return new LibvirtLink(connection, ref, options, libvirt.events);
  };
  // The guest's agent connects (a boot or reboot finished): the client need not wait for its backoff.
  const whenReady = (notify: () => void) =>
    libvirt.events((event) => {
      if (event.kind === "agent" && event.state === "connected" && event.domain.name === domain) notify();
    });
  return Object.assign(open, { whenReady });
}

/**
 * libvirt runs one agent command of a domain at a time (its agent job) and does not echo our ids: one
 * request in flight per link. A call whose caller gave up (our timeout) is no longer counted, so the next
 * one goes to libvirt, which holds it until the earlier command ends or libvirt's own timeout.
 */
class LibvirtLink implements AgentLink {
  readonly supportsIds = false;
  readonly capacity = 1;
  readonly syncing = false;
  private waiting = 0;
  private closedError: AgentUnavailableError | undefined;
  /** The link closed because the domain stopped or its agent left (libvirt's events), not by our choice. */
  private guestWentAway = false;
  private readonly closeListeners: Array<(error: AgentUnavailableError) => void> = [];
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly connection: LibvirtAgentApi,
    private readonly domain: DomainRef,
    private readonly options: LinkOptions,
    events: LibvirtLinks["events"],
  ) {
    this.unsubscribe.push(
      events((event) => this.onDomainEvent(event)),
      connection.onClose((error) =>
        this.shutdown(new AgentUnavailableError(`lost the connection to libvirtd: ${error.message}`)),
      ),
    );
  }

  get inFlight(): number {
    return this.waiting;
  }

  get isOpen(): boolean {
    return this.closedError === undefined && this.connection.isOpen;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  onClose(listener: (error: AgentUnavailableError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  close(): void {
    this.shutdown(new AgentUnavailableError("the link to the agent through libvirt was closed"));
  }

  send(request: AgentRequest, options: SendOptions): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    this.waiting++;
    const work = this.dispatch(request, options).catch((error: unknown) => {
      throw this.failure(error, request.execute);
    });
    const expired = () =>
      new AgentTimeoutError(`${request.execute}: no answer through libvirt within ${options.timeoutMs} ms`);
    return withinOrFail(work, options.timeoutMs, expired).finally(() => {
      this.waiting--;
    });
  }

  private async dispatch(request: AgentRequest, options: SendOptions): Promise<unknown> {
    const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    if (request.execute === "guest-shutdown" || !options.replies) return this.withoutReply(request, seconds);
    const text = await this.connection.agentCommand(this.domain, commandText(request), seconds);
    return this.parseReply(text, request.execute);
  }

  /**
   * A command that answers nothing on success (guest-shutdown, guest-suspend-*). Its effect can outrun its
   * answer: the domain's stop event (or its agent's disconnect) comes over the event connection before
   * libvirtd answers the call, and the link closes its connection on that event, failing the call. The
   * guest going away is the command taking effect, so that is "accepted" too (seen in CI: a shutdown
   * answered `agent_error`, "the connection to libvirtd was closed by this client").
   */
  private async withoutReply(request: AgentRequest, seconds: number): Promise<undefined> {
    try {
      await this.startWithoutReply(request, seconds);
    } catch (error) {
      if (!this.guestWentAway) throw error;
    }
    return undefined;
  }

  /**
   * Shutdown and reboot through libvirt's own calls, which wait for QEMU's SHUTDOWN / RESET event:
   * "accepted" is then known, not guessed. Anything else goes to the agent: an error reply is a refusal;
   * the agent going away, or no answer at all, is the command taking effect. libvirt offers no sync after
   * the command to tell that apart from an agent that hangs (its own APIs wait for an event).
   */
  private async startWithoutReply(request: AgentRequest, seconds: number): Promise<void> {
    if (request.execute === "guest-shutdown") {
      const mode = request.arguments?.mode ?? "powerdown";
      if (mode === "powerdown") return this.connection.shutdownWithAgent(this.domain);
      if (mode === "reboot") return this.connection.rebootWithAgent(this.domain);
    }
    try {
      const text = await this.connection.agentCommand(
        this.domain,
        commandText(request),
        Math.min(seconds, 10),
      );
      this.parseReply(text, "command");
    } catch (error) {
      if (!(error instanceof LibvirtError)) throw error;
      const gone = /disappeared/i.test(error.message);
      const unanswered =
        error.code === ErrorNumber.AGENT_COMMAND_TIMEOUT || /not available for now/.test(error.message);
      if (!gone && !unanswered) throw error;
    }
  }

  private parseReply(text: string, command: string): unknown {
    if (Buffer.byteLength(text) > this.options.maxReplyBytes) {
      throw new AgentReplyError(
        "ReplyTooLarge",
        `the reply to ${command} is larger than ${this.options.maxReplyBytes} bytes`,
      );
    }
    const line = parseReplyText(text, this.options.replyLimits);
    if (line.kind === "return") return line.value;
    if (line.kind === "error") throw new AgentReplyError(line.errorClass, line.desc);
    if (line.kind === "refused") throw new AgentReplyError("InvalidReply", `${command}: ${line.reason}`);
    throw new AgentReplyError(
      "InvalidReply",
      `libvirt returned an unreadable reply to ${command}: ${line.preview}`,
    );
  }

  /** Maps a failure; a failure that says the agent or domain is gone closes the link (the VM goes offline). */
  private failure(error: unknown, command: string): QgaError {
    const mapped = toQgaError(error, command, this.domain.name);
    if (mapped instanceof AgentUnavailableError) this.shutdown(mapped);
    return mapped;
  }

  private onDomainEvent(event: DomainEvent): void {
    if (event.domain.uuid !== this.domain.uuid) return;
    if (event.kind === "agent" && event.state === "disconnected") {
      this.guestWentAway = true;
      this.shutdown(
        new AgentUnavailableError(
          "the guest agent disconnected (the guest rebooted or stopped, or qemu-ga exited)",
        ),
      );
    } else if (event.kind === "lifecycle" && (event.event === "stopped" || event.event === "undefined")) {
      this.guestWentAway = true;
      this.shutdown(new AgentUnavailableError(`the libvirt domain ${this.domain.name} stopped`));
    }
  }

  private shutdown(error: AgentUnavailableError): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const stop of this.unsubscribe) stop();
    this.connection.close().catch(() => undefined);
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}

/**
 * libvirt's errors in the client's terms. An agent error comes back as libvirt's INTERNAL_ERROR with the
 * agent's `desc` in the message and its class dropped: the class is recovered where the text says it.
 */
export function toQgaError(error: unknown, command: string, domain: string): QgaError {
  if (!(error instanceof LibvirtError)) {
    if (
      error instanceof AgentTimeoutError ||
      error instanceof AgentReplyError ||
      error instanceof AgentUnavailableError
    )
      return error;
    const message = error instanceof Error ? error.message : String(error);
    return new AgentUnavailableError(`libvirt: ${message}`, { cause: error });
  }
  switch (error.code) {
    case ErrorNumber.NO_DOMAIN:
      return new AgentUnavailableError(`libvirt has no domain named ${domain}`, { cause: error });
    case ErrorNumber.AGENT_UNRESPONSIVE:
      // libvirt 9.0 reports an agent that took longer than the call's timeout this way too.
      if (/not available for now/.test(error.message))
        return new AgentTimeoutError(`${command}: ${error.message}`, { cause: error });
      return new AgentUnavailableError(error.message, { cause: error });
    case ErrorNumber.OPERATION_INVALID:
    case ErrorNumber.AGENT_UNSYNCED:
      return new AgentUnavailableError(error.message, { cause: error });
    case ErrorNumber.AGENT_COMMAND_TIMEOUT:
    case ErrorNumber.OPERATION_TIMEOUT:
      return new AgentTimeoutError(`${command}: ${error.message}`, { cause: error });
    default: {
      const agent = /unable to execute QEMU agent command '[^']*': ([\s\S]*)$/.exec(error.message);
      if (agent?.[1] !== undefined)
        return new AgentReplyError(agentClass(agent[1]), agent[1], { cause: error });
      return new AgentReplyError("LibvirtError", error.message, { cause: error });
    }
  }
}

function agentClass(desc: string): string {
  // qemu-ga answers both a missing and a disabled command with class CommandNotFound.
  return /has not been found|has been disabled/.test(desc) ? "CommandNotFound" : "GenericError";
}

/** The request as libvirt passes it on: bare JSON, without an id (libvirt matches replies itself). */
function commandText(request: AgentRequest): string {
  return JSON.stringify(
    request.arguments && Object.keys(request.arguments).length > 0
      ? { execute: request.execute, arguments: request.arguments }
      : { execute: request.execute },
  );
}
