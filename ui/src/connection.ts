import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { refusesProtocolVersion } from "../../src/mqtt/protocol-fallback.js";
import { Topics } from "../../src/mqtt/topics.js";
import { FleetStore } from "./fleet-store.js";
import { Requester } from "./requests.js";
import type { DashboardConfig } from "./schemas.js";
import { Signal } from "./signal.js";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export type LinkState =
  | { readonly kind: "connecting" }
  | { readonly kind: "connected" }
  | { readonly kind: "closed"; readonly reason: string };

/**
 * One login: the browser's own MQTT 5 client, with the person's credentials (kept in this object only,
 * never stored), the fleet it reads and the requests it sends.
 */
export class Session {
  readonly store: FleetStore;
  readonly requests: Requester;
  readonly linkChanged = new Signal(0);
  link: LinkState = { kind: "connecting" };
  readonly brokerUrl: string;
  private client: MqttClient | undefined;
  private connectedOnce = false;

  constructor(
    readonly config: DashboardConfig,
    readonly credentials: Credentials | undefined,
  ) {
    const clientId = `qga-dashboard-${randomHex(6)}`;
    const topics = new Topics(config.baseTopic, clientId);
    this.brokerUrl = brokerUrlOf(config.brokerUrl);
    this.store = new FleetStore(topics);
    this.requests = new Requester(topics);
    this.open(clientId, 5);
  }

  close(): void {
    this.client?.end(true);
  }

  /**
   * Connects with `version`. A broker that refuses MQTT 5 (the worker's embedded broker, NATS) gets 3.1.1
   * instead, as every client of qga-mqtt does (src/mqtt/protocol-fallback.ts).
   */
  private open(clientId: string, version: 4 | 5): void {
    const options: IClientOptions = {
      protocolVersion: version,
      clientId,
      clean: true,
      reconnectPeriod: 3000,
      connectTimeout: 10_000,
      resubscribe: false,
      // MQTT.js's default keepalive timers run in a Worker made from a blob: URL, which the CSP forbids.
      timerVariant: "native",
      // Else MQTT.js builds 65,536 cached number buffers at its first write: a third of a second with the
      // browser's Buffer polyfill, before the page can show anything (profiled: bench/rows/dashboard.ts).
      writeCache: false,
      ...(this.credentials?.username
        ? { username: this.credentials.username, password: this.credentials.password }
        : {}),
    };
    const client = mqtt.connect(this.brokerUrl, options);
    this.client = client;
    this.requests.attach(client, version);
    client.on("connect", () => {
      this.connectedOnce = true;
      this.setLink({ kind: "connected" });
      const filters = [...this.store.filters(), this.requests.replyFilter()];
      client.subscribe(filters, { qos: 0 }, (error) => {
        if (error) this.setLink({ kind: "closed", reason: `subscribe failed: ${error.message}` });
      });
    });
    client.on("message", (topic, payload, packet) => {
      const text = decoder.decode(payload);
      if (this.requests.receive(topic, text, packet.properties?.correlationData)) return;
      this.store.receive(topic, text);
    });
    client.on("error", (error) => {
      if (version === 5 && !this.connectedOnce && refusesProtocolVersion(error)) {
        client.end(true);
        this.open(clientId, 4);
        return;
      }
      this.setLink({ kind: "closed", reason: describeLinkError(error) });
    });
    client.on("close", () => {
      if (this.client === client && this.link.kind !== "closed") {
        this.setLink({ kind: "closed", reason: "the connection closed" });
      }
    });
    client.on("reconnect", () => {
      if (this.link.kind !== "closed") this.setLink({ kind: "connecting" });
    });
  }

  private setLink(link: LinkState): void {
    this.link = link;
    this.linkChanged.fire();
  }
}

/** "/mqtt" means this page's own origin (the dashboard pipes it to the broker); else an absolute ws(s) URL. */
export function brokerUrlOf(configured: string): string {
  if (!configured.startsWith("/")) return configured;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${configured}`;
}

function describeLinkError(error: Error & { code?: unknown }): string {
  const code = typeof error.code === "number" ? error.code : undefined;
  if (code === 134 || code === 135 || code === 4 || code === 5) {
    return `the broker refused the login: ${error.message.replace(/^Connection refused: /, "")}`;
  }
  return error.message;
}

const decoder = new TextDecoder();

export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
