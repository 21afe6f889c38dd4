import { z } from "zod";

/*
 * The keys of a device-based discovery payload as Home Assistant's MQTT documentation lists them (full
 * names and their abbreviations), for the platforms the worker uses. Strict: a key Home Assistant does not
 * document fails, since Home Assistant rejects or ignores such a config and the entity never shows up.
 */

/** `full` and its documented abbreviation, both optional: exactly one spelling may be used. */
function keys(
  pairs: Record<string, [string | undefined, z.ZodType]>,
): Record<string, z.ZodOptional<z.ZodType>> {
  const shape: Record<string, z.ZodOptional<z.ZodType>> = {};
  for (const [full, [abbreviation, type]] of Object.entries(pairs)) {
    shape[full] = type.optional();
    if (abbreviation) shape[abbreviation] = type.optional();
  }
  return shape;
}

const text = z.string().min(1);
const template = z.string().min(1);
const topic = z.string().regex(/^[^+#]+$/);

const availabilityItem = z.strictObject(
  keys({
    topic: ["t", topic],
    payload_available: ["pl_avail", text],
    payload_not_available: ["pl_not_avail", text],
    value_template: ["val_tpl", template],
  }),
);

const common = {
  platform: ["p", z.enum(["sensor", "binary_sensor", "button"])],
  unique_id: ["uniq_id", z.string().regex(/^qga_[A-Za-z0-9_-]+$/)],
  name: [undefined, text],
  icon: ["ic", z.string().regex(/^mdi:[a-z0-9-]+$/)],
  entity_category: ["ent_cat", z.enum(["config", "diagnostic"])],
  availability: ["avty", z.array(availabilityItem).min(1)],
  availability_mode: ["avty_mode", z.enum(["all", "any", "latest"])],
  availability_topic: ["avty_t", topic],
  payload_available: ["pl_avail", text],
  payload_not_available: ["pl_not_avail", text],
  enabled_by_default: ["en", z.boolean()],
  json_attributes_topic: ["json_attr_t", topic],
  json_attributes_template: ["json_attr_tpl", template],
  default_entity_id: [undefined, text],
  encoding: ["e", z.string()],
  entity_picture: ["ent_pic", text],
  qos: [undefined, z.union([z.literal(0), z.literal(1), z.literal(2)])],
} satisfies Record<string, [string | undefined, z.ZodType]>;

// Sensor device classes the worker may use, with the units Home Assistant accepts for them.
const sensor = z
  .strictObject(
    keys({
      ...common,
      state_topic: ["stat_t", topic],
      value_template: ["val_tpl", template],
      device_class: ["dev_cla", z.enum(["duration", "data_size"])],
      state_class: ["stat_cla", z.enum(["measurement", "total", "total_increasing"])],
      unit_of_measurement: ["unit_of_meas", text],
      suggested_display_precision: ["sug_dsp_prc", z.number().int().nonnegative()],
      expire_after: ["exp_aft", z.number().int().positive()],
      force_update: ["frc_upd", z.boolean()],
    }),
  )
  .refine(
    (c) =>
      c.device_class !== "duration" || ["d", "h", "min", "s", "ms"].includes(String(c.unit_of_measurement)),
    {
      message: "a duration needs a time unit",
    },
  );

const binarySensor = z.strictObject(
  keys({
    ...common,
    state_topic: ["stat_t", topic],
    value_template: ["val_tpl", template],
    device_class: ["dev_cla", z.enum(["connectivity", "problem", "running"])],
    payload_on: ["pl_on", text],
    payload_off: ["pl_off", text],
    off_delay: [undefined, z.number()],
    expire_after: ["exp_aft", z.number().int().positive()],
    force_update: ["frc_upd", z.boolean()],
  }),
);

const button = z.strictObject(
  keys({
    ...common,
    command_topic: ["cmd_t", topic],
    command_template: ["cmd_tpl", template],
    payload_press: ["pl_prs", z.string()],
    retain: ["ret", z.boolean()],
    device_class: ["dev_cla", z.enum(["identify", "restart", "update"])],
  }),
);

/** A component being removed from a device: its platform only. */
const removal = z.strictObject(keys({ platform: ["p", z.enum(["sensor", "binary_sensor", "button"])] }));

const platforms: Record<string, z.ZodType> = { sensor, binary_sensor: binarySensor, button };

/** Checked against its own platform's keys: a sensor must not pass for carrying a button's keys. */
export const Component = z.record(z.string(), z.unknown()).superRefine((component, ctx) => {
  const platform = String(component.platform ?? component.p);
  const schema = Object.keys(component).length === 1 ? removal : platforms[platform];
  const result = schema?.safeParse(component);
  if (!result) ctx.addIssue({ code: "custom", message: `unknown platform ${platform}` });
  else if (!result.success) ctx.addIssue({ code: "custom", message: `${platform}: ${result.error.message}` });
});

const device = z.strictObject(
  keys({
    identifiers: ["ids", z.array(text).min(1)],
    connections: ["cns", z.array(z.tuple([text, text]))],
    name: [undefined, text],
    manufacturer: ["mf", text],
    model: ["mdl", text],
    model_id: ["mdl_id", text],
    sw_version: ["sw", text],
    hw_version: ["hw", text],
    serial_number: ["sn", text],
    suggested_area: ["sa", text],
    configuration_url: ["cu", z.url()],
    via_device: [undefined, text],
  }),
);

const origin = z.strictObject(
  keys({ name: [undefined, text], sw_version: ["sw", text], support_url: ["url", z.url()] }),
);

export const DeviceDiscovery = z.strictObject(
  keys({
    device: ["dev", device],
    origin: ["o", origin],
    components: ["cmps", z.record(z.string().regex(/^[a-zA-Z0-9_-]+$/), Component)],
    state_topic: ["stat_t", topic],
    command_topic: ["cmd_t", topic],
    availability: ["avty", z.array(availabilityItem)],
    availability_mode: ["avty_mode", z.enum(["all", "any", "latest"])],
    qos: [undefined, z.union([z.literal(0), z.literal(1), z.literal(2)])],
    encoding: ["e", z.string()],
  }),
);
