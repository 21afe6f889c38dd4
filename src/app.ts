import type { Logger } from "pino";
import { FleetCensus } from "./census/fleet-census.js";
import { Policy } from "./commands/policy.js";
import { ConfigError, type LoadedConfig } from "./config/load.js";
import { changesFleet, libvirtLinkFor, resolveSources, watchedPaths } from "./fleet/configured-sources.js";
import type { VmDescriptor } from "./fleet/vm.js";
import { FleetWatcher } from "./fleet/watcher.js";
import { workerConsole } from "./http/console.js";
import { WorkerMetrics } from "./http/metrics.js";
import { type HttpServer, startHttpServer } from "./http/server.js";
import type { SharedLibvirtConnection } from "./libvirt/shared-connection.js";
import { MqttBus } from "./mqtt/bus.js";
import { resolveBroker } from "./mqtt/local-broker.js";
import { RefusedPublishes } from "./mqtt/refused-publishes.js";
import { TopicKinds } from "./mqtt/topic-kind.js";
import { Topics } from "./mqtt/topics.js";
import { redactUrl } from "./net/redact-url.js";
import { openJournal } from "./state/open-journal.js";
import type { SqliteJournal } from "./state/sqlite-journal.js";
import { Worker } from "./worker/worker.js";

export interface AppOptions {
  readonly loaded: LoadedConfig;
  readonly log: Logger;
  readonly version: string;
  /** The process environment (where systemd names the state folder); unset: none. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The longest wait for every worker's retained info after subscribing (it usually ends sooner: see FleetCensus.read). */
const CENSUS_WINDOW_MS = 500;

/**
 * Builds the parts in order and stops them in reverse: broker, bus, fleet, worker. The only place that
 * knows all of them.
 */
export class App {
  private bus: MqttBus | undefined;
  private fleet: FleetWatcher | undefined;
  private worker: Worker | undefined;
  private embedded: { close(): Promise<void> } | undefined;
  private topics: Topics | undefined;
  private http: HttpServer | undefined;
  private libvirt: SharedLibvirtConnection | undefined;
  private journal: SqliteJournal | undefined;

  constructor(private readonly options: AppOptions) {}

  async start(): Promise<void> {
    const { log, version } = this.options;
    const config = this.options.loaded.config;
    const policy = new Policy(config.policy);
    if (policy.problems.length > 0) {
      throw new ConfigError(
        `the policy is not valid:\n${policy.problems.map((p) => `✖ ${p}`).join("\n")}`,
        "policy",
      );
    }
    const broker = await resolveBroker(config.mqtt.url, log, { baseTopic: config.mqtt.baseTopic });
    this.embedded = broker.embedded;
    log.info({ url: redactUrl(broker.url) }, broker.description);

    const topics = new Topics(config.mqtt.baseTopic, config.worker.id);
    this.topics = topics;
    const bus = new MqttBus({
      url: broker.url,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      clientId: config.mqtt.clientId ?? `qga-mqtt-${config.worker.id}`,
      protocolVersion: broker.protocolVersion ?? config.mqtt.protocolVersion,
      keepaliveSeconds: config.mqtt.keepaliveSeconds,
      sessionExpirySeconds: config.mqtt.sessionExpirySeconds,
      tls: config.mqtt.tls,
      will: { topic: topics.bridgeState(), payload: "offline" },
      log: log.child({ component: "mqtt" }),
    });
    this.bus = bus;
    // Every worker's retained info: read at start (what this one served before), then followed (VMs that move).
    const census = new FleetCensus(bus, topics);
    const { sources, libvirt } = resolveSources(config, log);
    this.libvirt = libvirt;
    const metrics =
      config.http.listen !== undefined
        ? new WorkerMetrics({ worker: config.worker.id, config: config.metrics })
        : undefined;
    // A publish the broker refuses is never fatal: the bus resolves it, this logs and counts it.
    const { enabled: ha, discoveryPrefix } = config.homeassistant;
    const refusals = new RefusedPublishes({
      log: log.child({ component: "mqtt" }),
      kinds: new TopicKinds(config.mqtt.baseTopic, ha ? discoveryPrefix : undefined),
      ...(metrics ? { metrics } : {}),
    });
    bus.onPublishRefused((refusal) => refusals.report(refusal));
    this.journal = await openJournal(config, this.options.env ?? {}, log.child({ component: "journal" }));
    const worker = new Worker({
      config,
      bus,
      ...(this.journal ? { journal: this.journal, putLedger: this.journal.puts } : {}),
      topics,
      policy,
      census,
      version,
      log: log.child({ component: "worker" }),
      metrics,
      ...(libvirt
        ? {
            linkFor: (vm: VmDescriptor) =>
              libvirtLinkFor(vm, libvirt, log.child({ component: "libvirt", vm: vm.name })),
          }
        : {}),
    });
    this.worker = worker;
    if (metrics && config.http.listen !== undefined) {
      // Before the broker connects: a supervisor asking during startup gets 503 with the reason, not a refusal.
      const fleet = { brokerConnected: () => bus.connected, vms: () => worker.vms };
      metrics.attach(fleet);
      const httpLog = log.child({ component: "http" });
      // The console (http.ui) reaches the broker the worker uses, as found above: mqtt.url or the local one.
      const ui = config.http.ui ? await workerConsole(config.mqtt, broker.url, version, httpLog) : undefined;
      this.http = await startHttpServer({
        listen: config.http.listen,
        metrics,
        fleet,
        bus,
        log: httpLog,
        ...(ui ? { ui } : {}),
      });
    }
    bus.onMessage((message) => worker.onMessage(message));
    bus.onConnect(async () => {
      await bus.publishRetained(topics.bridgeState(), "online");
      await worker.onConnect();
    });
    await bus.connect();
    await census.read(CENSUS_WINDOW_MS, true);

    const fleet = new FleetWatcher({
      sources,
      rescanMs: config.discovery.rescanSeconds * 1000,
      log: log.child({ component: "fleet" }),
      // A domain defined, started, stopped or undefined: rescan now rather than at the next period.
      triggers: libvirt
        ? [(changed) => libvirt.onDomainEvent((event) => changesFleet(event) && changed())]
        : [],
    });
    this.fleet = fleet;
    fleet.onChange((change) => {
      worker
        .apply(change)
        .catch((error: unknown) => log.error({ err: error }, "could not apply a fleet change"));
    });
    await worker.apply(await fleet.start());
    const served = new Set(worker.vms.map((vm) => vm.name));
    for (const vm of census.orphansOf(config.worker.id, served)) {
      log.info({ vm }, "VM served before the restart is gone: clearing its retained topics");
      await bus.clearRetained(topics.status(vm));
      await bus.clearRetained(topics.availability(vm));
    }
    await worker.announce();
    if (worker.vms.length === 0) {
      log.warn({ watching: watchedPaths(sources) }, "no VMs found yet; watching for agent sockets to appear");
    }
    log.info(
      { worker: config.worker.id, vms: worker.vms.length, base: config.mqtt.baseTopic },
      `worker ready: try  mosquitto_sub -v -t '${config.mqtt.baseTopic}/#'`,
    );
  }

  /** Stops taking requests, lets in-flight ones reply, says `offline`, disconnects. */
  async stop(graceMs = 10_000): Promise<void> {
    this.fleet?.stop();
    await this.worker?.stop(graceMs);
    await this.libvirt?.close();
    if (this.bus && this.topics) {
      await this.bus.publishRetained(this.topics.bridgeState(), "offline").catch(() => {});
      await this.bus.close();
    }
    await this.embedded?.close();
    await this.http?.close();
    this.journal?.close();
  }
}
