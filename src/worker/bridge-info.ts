import type { BridgeInfoPayload } from "../census/bridge-info-schema.js";
import type { Policy } from "../commands/policy.js";
import type { MqttBus } from "../mqtt/bus.js";

/** Changes within this window are published once. */
const DEBOUNCE_MS = 200;

export interface BridgeInfoVm {
  readonly name: string;
  readonly groups: readonly string[];
  readonly availability: "online" | "offline";
}

export interface BridgeInfoOptions {
  readonly bus: MqttBus;
  readonly topic: string;
  readonly worker: string;
  readonly version: string;
  /** limits.dedupeWindowSeconds: a repeat of a request id within it is answered, never run again. */
  readonly repeatWindowSeconds: number;
  readonly policy: Policy;
  readonly vms: () => readonly BridgeInfoVm[];
}

/**
 * The retained `<base>/bridge/<worker>/info`: who this worker is and which VMs it serves, with their
 * groups, agent state and allowed commands, so a client knows who should answer before it asks.
 * Published debounced: a host start brings up many VMs at once.
 */
export class BridgeInfo {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BridgeInfoOptions) {}

  payload(): BridgeInfoPayload {
    const { worker, version, policy, repeatWindowSeconds } = this.options;
    return {
      worker,
      version,
      repeat_window_s: repeatWindowSeconds,
      vms: this.options.vms().map((vm) => ({
        name: vm.name,
        groups: [...vm.groups],
        agent: vm.availability,
        commands: [...policy.allowedFor(vm.name, vm.groups)].sort(),
      })),
    };
  }

  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.publish().catch(() => {});
    }, DEBOUNCE_MS);
  }

  async publish(): Promise<void> {
    await this.options.bus.publishRetained(this.options.topic, JSON.stringify(this.payload()));
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
