import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { CommandMetrics } from "../commands/command-metrics.js";
import type { MetricsConfig } from "../config/schema.js";
import type { RefusalMetrics } from "../mqtt/refused-publishes.js";
import { TOPIC_KINDS, type TopicKind } from "../mqtt/topic-kind.js";
import type { PollMetrics } from "../status/poll-metrics.js";
import { GuestMetrics } from "./guest-metrics.js";

/** One served VM as the gauges see it (VmRuntime fits). */
export interface VmView {
  readonly name: string;
  readonly availability: "online" | "offline";
  readonly queueDepth: number;
}

/** Read at scrape time, so the gauges never go stale between scrapes. */
export interface FleetView {
  brokerConnected(): boolean;
  vms(): readonly VmView[];
}

// Commands take from milliseconds (guest-ping) to minutes (exec, file transfers, fsfreeze).
const COMMAND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const POLL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The worker's Prometheus metrics, in a registry of its own: two workers in one process (the tests)
 * never share counters, and nothing registers into prom-client's global registry.
 */
export class WorkerMetrics implements CommandMetrics, PollMetrics, RefusalMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"command" | "outcome">;
  private readonly latency: Histogram<"command">;
  private readonly polls: Histogram<"outcome">;
  private readonly refused: Counter<"topic_kind">;
  private fleet: FleetView | undefined;
  /** The per-VM guest metrics (qga_guest_*), in the same registry. */
  readonly guest: GuestMetrics;

  /** `worker`: the guest series' `worker` label; `config`: which mount points and interfaces get series. */
  constructor(options: { worker?: string; config?: MetricsConfig } = {}) {
    const registers = [this.registry];
    this.guest = new GuestMetrics({
      registry: this.registry,
      worker: options.worker ?? "",
      ...(options.config ? { config: options.config } : {}),
    });
    collectDefaultMetrics({ register: this.registry, prefix: "qga_mqtt_" });
    this.requests = new Counter({
      name: "qga_mqtt_requests_total",
      help: "Requests answered, by command and outcome (ok or the error code)",
      labelNames: ["command", "outcome"],
      registers,
    });
    this.latency = new Histogram({
      name: "qga_mqtt_request_duration_seconds",
      help: "Time from receiving a request to its reply",
      labelNames: ["command"],
      buckets: COMMAND_BUCKETS,
      registers,
    });
    this.polls = new Histogram({
      name: "qga_mqtt_status_poll_duration_seconds",
      help: "Time to collect one VM's status snapshot",
      labelNames: ["outcome"],
      buckets: POLL_BUCKETS,
      registers,
    });
    this.refused = new Counter({
      name: "qga_mqtt_publish_refused_total",
      help: "Publishes the broker refused (MQTT 5 PUBACK reason code 0x80 or more, e.g. 135 from its ACL), by kind of topic",
      labelNames: ["topic_kind"],
      registers,
    });
    // Every kind from the start at 0: an alert on increase() sees the first refusal, not a new series.
    for (const kind of TOPIC_KINDS) this.refused.inc({ topic_kind: kind }, 0);
    const metrics = this;
    new Gauge({
      name: "qga_mqtt_broker_connected",
      help: "1 while connected to the MQTT broker",
      registers,
      collect() {
        this.set(metrics.fleet?.brokerConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: "qga_mqtt_vms",
      help: "VMs served by this worker",
      registers,
      collect() {
        this.set(metrics.fleet?.vms().length ?? 0);
      },
    });
    new Gauge({
      name: "qga_mqtt_agents_online",
      help: "Served VMs whose guest agent answers",
      registers,
      collect() {
        this.set(metrics.fleet?.vms().filter((vm) => vm.availability === "online").length ?? 0);
      },
    });
    new Gauge({
      name: "qga_mqtt_agent_queue_depth",
      help: "Commands waiting for the agent's channel, by VM",
      labelNames: ["vm"],
      registers,
      collect() {
        // Reset first: a VM no longer served must not keep its last value.
        this.reset();
        for (const vm of metrics.fleet?.vms() ?? []) this.set({ vm: vm.name }, vm.queueDepth);
      },
    });
  }

  /** The fleet the gauges read; set once the worker exists. */
  attach(fleet: FleetView): void {
    this.fleet = fleet;
  }

  observeCommand(command: string, outcome: string, seconds: number): void {
    this.requests.inc({ command, outcome });
    this.latency.observe({ command }, seconds);
  }

  observePoll(seconds: number, ok: boolean): void {
    this.polls.observe({ outcome: ok ? "ok" : "error" }, seconds);
  }

  observeRefusedPublish(kind: TopicKind): void {
    this.refused.inc({ topic_kind: kind });
  }
}
