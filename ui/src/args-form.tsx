import { useEffect, useRef } from "preact/hooks";
import { emptyValue, type Field, optionKey, type Value, type ValueMap } from "./args-schema.js";

/*
 * The controls of an arguments form (args-schema.ts says which). Each control is named by its label, the
 * member's own name; list items are "arg 1", "arg 2". Required members carry `required` (announced by
 * screen readers) and a star for the eye.
 */

interface MembersProps {
  readonly fields: readonly Field[];
  readonly values: ValueMap;
  readonly onChange: (values: ValueMap) => void;
}

export function ArgsForm(props: MembersProps) {
  return (
    <div class="args-form">
      <Members {...props} />
    </div>
  );
}

function Members({ fields, values, onChange }: MembersProps) {
  return (
    <>
      {fields.map((field) => (
        <Control
          key={field.name}
          field={field}
          label={field.name}
          value={Object.hasOwn(values, field.name) ? values[field.name] : undefined}
          onChange={(value) => onChange({ ...values, [field.name]: value })}
        />
      ))}
    </>
  );
}

interface ControlProps {
  readonly field: Field;
  readonly label: string;
  readonly value: Value | undefined;
  readonly onChange: (value: Value) => void;
  /** A list's item: always there, so never marked required. */
  readonly item?: boolean;
}

const Star = () => (
  <span class="required" aria-hidden="true">
    {" *"}
  </span>
);

/** A control's visible name: the member, starred when required. */
const Caption = ({ label, required }: { label: string; required: boolean }) => (
  <span>
    {label}
    {required ? <Star /> : null}
  </span>
);

function Control({ field, label, value, onChange, item = false }: ControlProps) {
  const required = field.required && !item;
  const text = typeof value === "string" ? value : "";
  // Text controls alike but for masking (Preact types a password input apart from a text one).
  const textProps = {
    autoComplete: "off",
    spellcheck: false,
    required,
    value: text,
    onInput: (e: { currentTarget: HTMLInputElement }) => onChange(e.currentTarget.value),
  };
  switch (field.kind) {
    case "text": {
      const caption = <Caption label={label} required={required} />;
      return field.secret ? (
        <label>
          {caption}
          <input type="password" {...textProps} />
        </label>
      ) : (
        <label>
          {caption}
          <input type="text" {...textProps} />
        </label>
      );
    }
    case "number": {
      // Bounds a double cannot tell apart from their neighbours (int64's) would only confuse the browser.
      const bound = (n: number | undefined) => (n !== undefined && Number.isSafeInteger(n) ? n : undefined);
      return (
        <label>
          <Caption label={label} required={required} />
          <input
            type="number"
            step={field.integer ? 1 : "any"}
            min={field.exclusiveMin ? undefined : bound(field.min)}
            max={field.exclusiveMax ? undefined : bound(field.max)}
            required={required}
            value={text}
            onInput={(e) => onChange(e.currentTarget.value)}
          />
        </label>
      );
    }
    case "boolean":
      return (
        <label class="check">
          <input
            type="checkbox"
            checked={value === true}
            onChange={(e) => onChange(e.currentTarget.checked)}
          />
          {label}
          {required ? <Star /> : null}
        </label>
      );
    case "choice":
      return (
        <label>
          <Caption label={label} required={required} />
          <select required={required} value={text} onChange={(e) => onChange(e.currentTarget.value)}>
            <option value="">{required ? "(choose)" : "(not sent)"}</option>
            {field.options.map((option) => (
              <option key={optionKey(option)} value={optionKey(option)}>
                {typeof option === "string" ? option : JSON.stringify(option)}
              </option>
            ))}
          </select>
        </label>
      );
    case "list":
      return (
        <ListControl
          field={field}
          label={label}
          required={required}
          items={Array.isArray(value) ? (value as readonly Value[]) : []}
          onChange={onChange}
        />
      );
    case "object":
      return (
        <fieldset class="args-object">
          <legend>
            {label}
            {required ? <Star /> : null}
          </legend>
          <Members
            fields={field.fields}
            values={typeof value === "object" && !Array.isArray(value) ? (value as ValueMap) : {}}
            onChange={onChange}
          />
        </fieldset>
      );
  }
}

function ListControl({
  field,
  label,
  required,
  items,
  onChange,
}: {
  field: Extract<Field, { kind: "list" }>;
  label: string;
  required: boolean;
  items: readonly Value[];
  onChange: (value: Value) => void;
}) {
  const box = useRef<HTMLFieldSetElement>(null);
  // Where the keyboard goes after Add (the new item) or Remove (the Add button): set by the click.
  const focusNext = useRef<"item" | "add" | undefined>(undefined);
  useEffect(() => {
    const next = focusNext.current;
    focusNext.current = undefined;
    if (next === "item") {
      const last = box.current?.querySelector(":scope > .args-item:last-of-type");
      last?.querySelector<HTMLElement>("input, select, textarea")?.focus();
    } else if (next === "add") {
      box.current?.querySelector<HTMLElement>(":scope > button.add")?.focus();
    }
  }, [items.length]);
  return (
    <fieldset class="args-list" ref={box}>
      <legend>
        {label}
        {required ? <Star /> : null}
      </legend>
      {items.map((item, i) => (
        // Keyed by place: items have no identity of their own, and the controls are controlled.
        <div class="args-item" key={i}>
          <Control
            field={field.item}
            label={`${label} ${i + 1}`}
            value={item}
            item
            onChange={(value) => onChange(items.map((old, j) => (j === i ? value : old)))}
          />
          <button
            type="button"
            aria-label={`Remove ${label} ${i + 1}`}
            onClick={() => {
              focusNext.current = "add";
              onChange(items.filter((_, j) => j !== i));
            }}
          >
            Remove
          </button>
        </div>
      ))}
      <button
        type="button"
        class="add"
        onClick={() => {
          focusNext.current = "item";
          onChange([...items, emptyValue(field.item)]);
        }}
      >
        Add {label}
      </button>
    </fieldset>
  );
}
