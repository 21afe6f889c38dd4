import type { Topics } from "../mqtt/topics.js";
import { buttonComponents } from "./buttons.js";
import { type Component, safeId, type VmFacts } from "./component.js";
import { entityComponents } from "./entities.js";

/*
 * Home Assistant MQTT discovery, device-based: one retained config per VM at
 * `<prefix>/device/<id>/config` holding the device, the origin and every component. Pure: the announcer
 * does the I/O. Full key names, not abbreviations: the payloads are read by people debugging too.
 */

export interface DeviceConfig {
  readonly device: Readonly<Record<string, unknown>>;
  readonly origin: Readonly<Record<string, unknown>>;
  readonly components: Readonly<Record<string, Component>>;
  readonly qos: 1;
}

/** The device id of a VM: also its discovery topic level and the prefix of its entities' unique ids. */
export function vmDeviceId(vm: string): string {
  return `qga_${safeId(vm)}`;
}

/** The device id of a worker (a bridge device the VMs hang off, `via_device`). */
export function bridgeDeviceId(worker: string): string {
  return `qga_bridge_${safeId(worker)}`;
}

export function discoveryTopic(prefix: string, deviceId: string): string {
  return `${prefix}/device/${deviceId}/config`;
}

export function origin(version: string): Record<string, unknown> {
  return { name: "qga-mqtt", sw_version: version };
}

/** The discovery config of one VM. */
export function vmDiscovery(facts: VmFacts): DeviceConfig {
  const id = vmDeviceId(facts.vm);
  const os = facts.status?.os;
  const model = os?.pretty_name ?? os?.name ?? os?.id;
  return {
    device: {
      identifiers: [id],
      name: facts.vm,
      manufacturer: "QEMU guest agent",
      ...(model !== undefined ? { model } : {}),
      ...(os?.kernel_release !== undefined ? { sw_version: os.kernel_release } : {}),
      via_device: bridgeDeviceId(facts.worker),
    },
    origin: origin(facts.version),
    components: { ...entityComponents(id, facts), ...buttonComponents(id, facts) },
    qos: 1,
  };
}

/**
 * The config of the worker itself, so that `via_device` points at a real device: one connectivity
 * entity for the worker's state.
 */
export function bridgeDiscovery(topics: Topics, worker: string, version: string): DeviceConfig {
  const id = bridgeDeviceId(worker);
  return {
    device: { identifiers: [id], name: `qga-mqtt ${worker}`, manufacturer: "qga-mqtt", sw_version: version },
    origin: origin(version),
    components: {
      state: {
        platform: "binary_sensor",
        unique_id: `${id}_state`,
        name: "Worker",
        device_class: "connectivity",
        entity_category: "diagnostic",
        state_topic: topics.bridgeState(),
        payload_on: "online",
        payload_off: "offline",
      },
    },
    qos: 1,
  };
}

/**
 * `config` with a platform-only entry for each component `previous` had and `config` has not: that is how
 * Home Assistant is told to remove a component of a device (an unmounted filesystem) without removing
 * the device.
 */
export function withRemovals(config: DeviceConfig, previous: DeviceConfig | undefined): DeviceConfig {
  if (!previous) return config;
  const removed: Record<string, Component> = {};
  for (const [key, component] of Object.entries(previous.components)) {
    if (!(key in config.components)) removed[key] = { platform: component.platform };
  }
  return { ...config, components: { ...config.components, ...removed } };
}

/** The device a retained discovery config describes, and the bridge device it hangs off, if any. */
export function describedDevice(payload: unknown): { id?: string; via?: string } {
  if (typeof payload !== "object" || payload === null) return {};
  const record = payload as Record<string, unknown>;
  const device = record.device ?? record.dev;
  if (typeof device !== "object" || device === null) return {};
  const { identifiers, ids, via_device: via } = device as Record<string, unknown>;
  const list = identifiers ?? ids;
  const id = Array.isArray(list) && typeof list[0] === "string" ? list[0] : undefined;
  return { ...(id !== undefined ? { id } : {}), ...(typeof via === "string" ? { via } : {}) };
}
