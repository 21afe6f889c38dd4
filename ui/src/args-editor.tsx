import {
  type ArgsChoice,
  type ArgsDraft,
  asJson,
  fieldsOf,
  fitText,
  withText,
  withValues,
} from "./args-draft.js";
import { ArgsForm } from "./args-form.js";

/**
 * The Run page's arguments (args-draft.ts holds their state): the command's form with an "Edit as JSON"
 * toggle, or the JSON box alone for verbs and commands without a form.
 */
export function ArgsEditor({
  choice,
  draft,
  onDraft,
}: {
  choice: ArgsChoice;
  draft: ArgsDraft;
  onDraft: (draft: ArgsDraft) => void;
}) {
  const fields = fieldsOf(choice);
  const unsupported = choice.model && "unsupported" in choice.model ? choice.model.unsupported : undefined;
  // Whether the JSON box's text can go back into the form, and if not, why.
  const fit = fields && draft.json ? fitText(fields, draft.text) : undefined;
  return (
    <fieldset class="args-editor">
      <legend>Arguments</legend>
      {choice.description ? <p class="muted">{choice.description}</p> : null}
      {unsupported ? <p class="muted">No form for this command: {unsupported}. Type them as JSON.</p> : null}
      {fields && fields.length === 0 ? <p class="muted">This command takes no arguments.</p> : null}
      {fields && !draft.json && fields.length > 0 ? (
        <>
          <p class="muted">
            <span aria-hidden="true">* </span>required
          </p>
          <ArgsForm
            fields={fields}
            values={draft.values}
            onChange={(v) => onDraft(withValues(choice, draft, v))}
          />
        </>
      ) : null}
      {fields ? (
        <label class="check">
          <input
            type="checkbox"
            checked={draft.json}
            disabled={fit !== undefined && "problem" in fit}
            onChange={(e) => onDraft(asJson(choice, draft, e.currentTarget.checked))}
          />
          Edit as JSON
        </label>
      ) : null}
      {!fields || draft.json ? (
        <label>
          Arguments (JSON)
          <textarea
            rows={fields ? 6 : 3}
            spellcheck={false}
            placeholder='{"path": "/etc/hostname"}'
            value={draft.text}
            onInput={(e) => onDraft(withText(choice, draft, e.currentTarget.value))}
          />
        </label>
      ) : null}
      {fit && "problem" in fit ? (
        <p class="muted">Back to the form once the JSON fits it: {fit.problem}.</p>
      ) : null}
    </fieldset>
  );
}
