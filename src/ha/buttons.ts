import type { Component, VmFacts } from "./component.js";
import { vmAvailability } from "./component.js";

interface ButtonSpec {
  readonly verb: string;
  readonly name: string;
  readonly icon?: string;
  readonly device_class?: "restart" | "identify" | "update";
  readonly entity_category?: "config" | "diagnostic";
}

/*
 * The verbs worth a button: those that need no arguments and make sense pressed by a person. `freeze` is
 * left out on purpose: a frozen guest blocks every write until thawed, which a stray press must not cause.
 */
const BUTTONS: readonly ButtonSpec[] = [
  { verb: "status", name: "Refresh status", icon: "mdi:refresh", entity_category: "diagnostic" },
  { verb: "reboot", name: "Reboot", device_class: "restart" },
  { verb: "shutdown", name: "Shut down", icon: "mdi:power" },
  { verb: "halt", name: "Halt", icon: "mdi:stop-circle-outline" },
  { verb: "sync-time", name: "Sync clock", icon: "mdi:clock-check-outline", entity_category: "config" },
  { verb: "thaw", name: "Thaw filesystems", icon: "mdi:snowflake-melt", entity_category: "config" },
];

/** One button per verb the policy allows for this VM; none for what it forbids. */
export function buttonComponents(deviceId: string, facts: VmFacts): Record<string, Component> {
  const components: Record<string, Component> = {};
  for (const spec of BUTTONS) {
    if (!facts.allowed.has(spec.verb)) continue;
    const key = `button_${spec.verb.replace(/-/g, "_")}`;
    components[key] = {
      platform: "button",
      unique_id: `${deviceId}_${key}`,
      name: spec.name,
      command_topic: facts.topics.command(facts.vm, spec.verb),
      // An empty JSON object is a request without id or arguments: each press runs once.
      payload_press: "{}",
      retain: false,
      ...(spec.icon !== undefined ? { icon: spec.icon } : {}),
      ...(spec.device_class !== undefined ? { device_class: spec.device_class } : {}),
      ...(spec.entity_category !== undefined ? { entity_category: spec.entity_category } : {}),
      ...vmAvailability(facts.topics, facts.vm),
    };
  }
  return components;
}
