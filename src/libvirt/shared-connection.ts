import { LibvirtConnection, type LibvirtConnectionOptions } from "./connection.js";
import type { DomainEvent } from "./events.js";

/**
 * One connection to libvirtd for the whole worker, opened when first needed and opened again after it
 * drops (libvirtd restarted): discovery lists over it, and every domain's link looks its domain up and
 * hears its events over it (a link's commands go over a connection of its own). Domain-event listeners stay
 * subscribed across reconnects.
 */
export class SharedLibvirtConnection {
  private current: LibvirtConnection | undefined;
  private opening: Promise<LibvirtConnection> | undefined;
  private closed = false;
  private readonly listeners = new Set<(event: DomainEvent) => void>();

  constructor(private readonly options: LibvirtConnectionOptions) {}

  get uri(): string {
    return this.options.uri ?? "qemu:///system";
  }

  /** The open connection, or a new one; concurrent callers share one attempt. */
  get(): Promise<LibvirtConnection> {
    if (this.closed) return Promise.reject(new Error("the libvirt connection was closed"));
    if (this.current?.isOpen) return Promise.resolve(this.current);
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /** Events of every connection this holder opens, now and later. */
  onDomainEvent(listener: (event: DomainEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const connection = this.current;
    this.current = undefined;
    await connection?.close().catch(() => undefined);
  }

  private async open(): Promise<LibvirtConnection> {
    const connection = await LibvirtConnection.open(this.options);
    if (this.closed) {
      await connection.close().catch(() => undefined);
      throw new Error("the libvirt connection was closed");
    }
    connection.onDomainEvent((event) => {
      for (const listener of this.listeners) listener(event);
    });
    connection.onClose(() => {
      if (this.current === connection) this.current = undefined;
    });
    this.current = connection;
    return connection;
  }
}
