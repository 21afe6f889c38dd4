import type { Topics } from "../../src/mqtt/topics.js";
import { BridgeInfoPayload, parseJson, Snapshot, VmEvent } from "./schemas.js";
import { Signal } from "./signal.js";

export type AgentState = "online" | "offline" | "frozen" | "unresponsive" | "unreachable" | "unknown";

export interface WorkerEntry {
  readonly id: string;
  state: "online" | "offline" | "unknown";
  info?: BridgeInfoPayload;
}

/** One point of a VM's readings, taken when its status arrived (the VM page's charts). */
export interface Reading {
  readonly at: number;
  readonly load?: number;
  readonly cpu?: number;
  readonly fs: Record<string, number>;
}

export interface VmEntry {
  readonly name: string;
  worker?: string;
  groups: string[];
  commands?: string[];
  /** The newest of availability and the snapshot's agent state (whichever came last). */
  agent: Exclude<AgentState, "unreachable">;
  status?: Snapshot;
  readings: Reading[];
}

export interface ActivityEntry {
  readonly seq: number;
  readonly at: number;
  readonly vm?: string;
  readonly worker?: string;
  readonly kind: string;
  readonly detail: string;
}

const MAX_READINGS = 360;
const MAX_ACTIVITY = 1000;

/**
 * What the page knows of the fleet, fed by the retained bridge info and state of every worker and the
 * status, availability and events of every VM. Mutated in place; `changed` fires at most once per 50 ms so
 * a burst of 1,000 statuses costs one render.
 */
export class FleetStore {
  readonly workers = new Map<string, WorkerEntry>();
  readonly vms = new Map<string, VmEntry>();
  readonly activity: ActivityEntry[] = [];
  readonly changed = new Signal(50);
  private seq = 0;

  constructor(private readonly topics: Topics) {}

  /** Subscription filters for everything the store reads. */
  filters(): string[] {
    return [this.topics.everyBridgeInfo(), this.topics.everyBridgeState(), ...this.topics.vmOutputs()];
  }

  /** Takes one message; false when the topic is none of the store's. */
  receive(topic: string, text: string): boolean {
    const infoOf = this.topics.parseBridgeInfo(topic);
    if (infoOf !== undefined) return this.onInfo(infoOf, text);
    const stateOf = this.topics.parseBridgeState(topic);
    if (stateOf !== undefined) return this.onWorkerState(stateOf, text);
    const prefix = `${this.topics.base}/`;
    if (!topic.startsWith(prefix)) return false;
    const [vm, leaf, ...rest] = topic.slice(prefix.length).split("/");
    if (!vm || rest.length > 0 || vm === "bridge" || vm === "group") return false;
    if (leaf === "status") return this.onStatus(vm, text);
    if (leaf === "availability") return this.onAvailability(vm, text);
    if (leaf === "event") return this.onEvent(vm, text);
    return false;
  }

  /** The state the page shows: a VM whose worker is offline is unreachable whatever its agent said. */
  stateOf(vm: VmEntry): AgentState {
    const worker = vm.worker === undefined ? undefined : this.workers.get(vm.worker);
    if (worker?.state === "offline") return "unreachable";
    return vm.agent;
  }

  groups(): string[] {
    const all = new Set<string>();
    for (const vm of this.vms.values()) for (const group of vm.groups) all.add(group);
    return [...all].sort();
  }

  private vm(name: string): VmEntry {
    let entry = this.vms.get(name);
    if (!entry) {
      entry = { name, groups: [], agent: "unknown", readings: [] };
      this.vms.set(name, entry);
    }
    return entry;
  }

  private worker(id: string): WorkerEntry {
    let entry = this.workers.get(id);
    if (!entry) {
      entry = { id, state: "unknown" };
      this.workers.set(id, entry);
    }
    return entry;
  }

  private onInfo(id: string, text: string): boolean {
    if (text === "") {
      this.workers.delete(id);
      this.forgetVms(id, new Set());
      this.changed.fire();
      return true;
    }
    const info = parseJson(BridgeInfoPayload, text);
    if (!info) return true;
    this.worker(id).info = info;
    this.forgetVms(id, new Set(info.vms.map((vm) => vm.name)));
    for (const served of info.vms) {
      const vm = this.vm(served.name);
      vm.worker = id;
      vm.groups = served.groups;
      if (served.commands) vm.commands = served.commands;
      if (vm.agent === "unknown") vm.agent = served.agent;
    }
    this.changed.fire();
    return true;
  }

  /** The VMs `worker` served and serves no more (removed from its configuration, or moved away). */
  private forgetVms(worker: string, served: ReadonlySet<string>): void {
    for (const [name, vm] of this.vms) if (vm.worker === worker && !served.has(name)) this.vms.delete(name);
  }

  private onWorkerState(id: string, text: string): boolean {
    const worker = this.worker(id);
    const state = text === "online" || text === "offline" ? text : "unknown";
    if (worker.state !== state && worker.state !== "unknown") {
      this.log({ worker: id, kind: `worker_${state}`, detail: `worker ${id} is ${state}` });
    }
    worker.state = state;
    this.changed.fire();
    return true;
  }

  private onStatus(name: string, text: string): boolean {
    const status = parseJson(Snapshot, text);
    if (!status) return true;
    const vm = this.vm(name);
    vm.status = status;
    vm.agent = status.agent;
    const fs: Record<string, number> = {};
    for (const filesystem of status.filesystems ?? []) fs[filesystem.mountpoint] = filesystem.used_pct;
    vm.readings.push({
      at: Date.now(),
      ...(status.load ? { load: status.load["1m"] } : {}),
      ...(status.cpu_pct !== undefined ? { cpu: status.cpu_pct } : {}),
      fs,
    });
    if (vm.readings.length > MAX_READINGS) vm.readings.splice(0, vm.readings.length - MAX_READINGS);
    this.changed.fire();
    return true;
  }

  private onAvailability(name: string, text: string): boolean {
    if (text !== "online" && text !== "offline") return true;
    const vm = this.vm(name);
    vm.agent = text;
    this.changed.fire();
    return true;
  }

  private onEvent(name: string, text: string): boolean {
    const event = parseJson(VmEvent, text);
    if (!event) return true;
    const { event: kind, vm: _vm, time, ...rest } = event;
    const parsedTime = time === undefined ? Number.NaN : Date.parse(time);
    this.log({
      vm: name,
      kind,
      detail: Object.entries(rest)
        .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
        .join(", "),
      ...(Number.isNaN(parsedTime) ? {} : { at: parsedTime }),
    });
    this.changed.fire();
    return true;
  }

  private log(entry: Omit<ActivityEntry, "seq" | "at"> & { at?: number }): void {
    this.activity.push({ at: Date.now(), ...entry, seq: ++this.seq });
    if (this.activity.length > MAX_ACTIVITY) this.activity.splice(0, this.activity.length - MAX_ACTIVITY);
  }
}
