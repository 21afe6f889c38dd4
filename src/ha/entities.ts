import type { StatusSnapshot } from "../status/snapshot.js";
import type { Component, VmFacts } from "./component.js";
import { safeId, vmAvailability, workerAvailability } from "./component.js";

/*
 * The sensors of one VM. Each reads the retained status snapshot through a template, so the worker
 * publishes nothing per entity. Templates use only what Jinja (Home Assistant) and its common subset
 * with nunjucks (the tests) share: loops, `set` blocks, `first`, `length`, `trim`, `tojson`, `in`, `~`.
 */

type Sensor = Omit<Component, "platform"> & { readonly name: string };

const DIAGNOSTIC = { entity_category: "diagnostic" } as const;
const MEASUREMENT = { state_class: "measurement" } as const;

/**
 * The first address of the family on any interface, skipping link-local ones: Jinja and nunjucks share
 * no list filters nor `startswith`, so the addresses are written out and the first one is kept, and a
 * prefix is tested as `' fe80:' in (' ' ~ a)` (a space cannot occur inside an address).
 */
function firstAddress(family: "ipv4" | "ipv6", linkLocal: string): string {
  return (
    `{% set found %}{% for i in value_json.interfaces %}{% for a in i.${family} %}` +
    `{% if ' ${linkLocal}' not in (' ' ~ a) %}{{ a }} {% endif %}{% endfor %}{% endfor %}{% endset %}` +
    "{{ (found | trim).split(' ') | first }}"
  );
}

/** Every interface's addresses of the family, as attributes: `{"eth0": ["192.0.2.2"], ...}`. */
function addressesByInterface(family: "ipv4" | "ipv6"): string {
  return (
    "{ {% for i in value_json.interfaces %}" +
    `{{ i.name | tojson }}: {{ i.${family} | tojson }}{{ '' if loop.last else ', ' }}` +
    "{% endfor %} }"
  );
}

/** The filesystem mounted at `mountpoint`, found by a loop (Jinja has no `find`). */
function filesystemTemplate(mountpoint: string, output: string): string {
  return (
    "{% for f in value_json.filesystems %}" +
    `{% if f.mountpoint == ${JSON.stringify(mountpoint)} %}${output}{% endif %}{% endfor %}`
  );
}

/** Stable per mount point, readable where the mount point allows. */
export function filesystemKey(mountpoint: string): string {
  const trimmed = mountpoint.replace(/^\/+/, "");
  return trimmed === "" ? "fs_root" : `fs_${safeId(trimmed)}`;
}

/** The sensors the snapshot has data for, by component key. */
function sensors(status: StatusSnapshot): Record<string, Sensor> {
  const result: Record<string, Sensor> = {};
  if (status.hostname !== undefined) {
    result.hostname = { name: "Host name", icon: "mdi:server", value_template: "{{ value_json.hostname }}" };
  }
  const os = status.os;
  const osMember = os?.pretty_name !== undefined ? "pretty_name" : os?.name !== undefined ? "name" : "id";
  if (os?.[osMember] !== undefined) {
    result.os = {
      name: "Operating system",
      // Windows' agent says id "mswindows" (qga/commands-win32.c); every other agent is a Unix-like one.
      icon: os?.id === "mswindows" ? "mdi:microsoft-windows" : "mdi:linux",
      value_template: `{{ value_json.os.${osMember} }}`,
      json_attributes_template: "{{ value_json.os | tojson }}",
      ...DIAGNOSTIC,
    };
  }
  if (os?.kernel_release !== undefined) {
    result.kernel = {
      // Windows' agent puts the build number there (RtlGetVersion's dwBuildNumber, e.g. 20348).
      name: os.id === "mswindows" ? "OS build" : "Kernel",
      icon: "mdi:chip",
      value_template: "{{ value_json.os.kernel_release }}",
      ...DIAGNOSTIC,
    };
  }
  const interfaces = status.interfaces ?? [];
  if (interfaces.some((i) => i.ipv4.length > 0)) {
    result.ipv4 = {
      name: "IPv4 address",
      icon: "mdi:ip-network",
      value_template: firstAddress("ipv4", "169.254."),
      json_attributes_template: addressesByInterface("ipv4"),
    };
  }
  if (interfaces.some((i) => i.ipv6.some((a) => !a.startsWith("fe80:")))) {
    result.ipv6 = {
      name: "IPv6 address",
      icon: "mdi:ip-network",
      value_template: firstAddress("ipv6", "fe80:"),
      json_attributes_template: addressesByInterface("ipv6"),
    };
  }
  for (const fs of status.filesystems ?? []) {
    result[filesystemKey(fs.mountpoint)] = {
      name: `Disk ${fs.mountpoint}`,
      icon: "mdi:harddisk",
      unit_of_measurement: "%",
      suggested_display_precision: 1,
      value_template: filesystemTemplate(fs.mountpoint, "{{ f.used_pct }}"),
      json_attributes_template: filesystemTemplate(
        fs.mountpoint,
        "{{ {'type': f.type, 'used_bytes': f.used_bytes, 'total_bytes': f.total_bytes} | tojson }}",
      ),
      ...MEASUREMENT,
    };
  }
  if (status.users !== undefined) {
    result.users = {
      name: "Logged-in users",
      icon: "mdi:account-multiple",
      unit_of_measurement: "users",
      value_template: "{{ value_json.users | length }}",
      json_attributes_template: "{{ {'users': value_json.users} | tojson }}",
      ...MEASUREMENT,
    };
  }
  if (status.vcpus !== undefined) {
    result.vcpus = {
      name: "vCPUs",
      icon: "mdi:cpu-64-bit",
      value_template: "{{ value_json.vcpus }}",
      ...DIAGNOSTIC,
    };
  }
  if (status.time_offset_ms !== undefined) {
    result.clock_offset = {
      name: "Clock offset",
      device_class: "duration",
      unit_of_measurement: "ms",
      suggested_display_precision: 1,
      value_template: "{{ value_json.time_offset_ms }}",
      ...MEASUREMENT,
      ...DIAGNOSTIC,
    };
  }
  if (status.load !== undefined) {
    result.load = {
      name: "Load (1 min)",
      icon: "mdi:gauge",
      suggested_display_precision: 2,
      value_template: "{{ value_json.load['1m'] }}",
      json_attributes_template: "{{ value_json.load | tojson }}",
      ...MEASUREMENT,
    };
  }
  if (status.cpu_pct !== undefined) {
    result.cpu = {
      name: "CPU",
      icon: "mdi:cpu-64-bit",
      unit_of_measurement: "%",
      suggested_display_precision: 1,
      value_template: "{{ value_json.cpu_pct }}",
      ...MEASUREMENT,
    };
  }
  if (status.agent_version !== undefined) {
    result.agent_version = {
      name: "Agent version",
      icon: "mdi:information-outline",
      value_template: "{{ value_json.agent_version }}",
      ...DIAGNOSTIC,
    };
  }
  return result;
}

/**
 * The agent's connectivity (always), and a sensor for each member the snapshot has. The connectivity
 * entity follows only the worker's state: it must read "disconnected" when the agent is gone, not vanish.
 */
export function entityComponents(deviceId: string, facts: VmFacts): Record<string, Component> {
  const { topics, vm } = facts;
  const components: Record<string, Component> = {
    agent: {
      platform: "binary_sensor",
      unique_id: `${deviceId}_agent`,
      name: "Guest agent",
      device_class: "connectivity",
      state_topic: topics.availability(vm),
      payload_on: "online",
      payload_off: "offline",
      availability: [workerAvailability(topics)],
      ...DIAGNOSTIC,
    },
  };
  if (!facts.status) return components;
  for (const [key, sensor] of Object.entries(sensors(facts.status))) {
    components[key] = {
      platform: "sensor",
      unique_id: `${deviceId}_${key}`,
      state_topic: topics.status(vm),
      ...(sensor.json_attributes_template !== undefined ? { json_attributes_topic: topics.status(vm) } : {}),
      ...sensor,
      ...vmAvailability(topics, vm),
    };
  }
  return components;
}
