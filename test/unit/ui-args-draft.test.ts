import assert from "node:assert/strict";
import { test } from "node:test";
import { argsChoiceOf, asJson, draftFor, outcomeOf, withText, withValues } from "../../ui/src/args-draft.js";
import { optionKey } from "../../ui/src/args-schema.js";

/*
 * The Run page's arguments as state (ui/src/args-draft.ts): the form and the JSON box hold the same
 * arguments, and Run is held back, with the reason, until they can be sent.
 */

test("a verb or an unknown command has the JSON box only, sent as typed", () => {
  for (const command of ["exec", "guest-not-yet-known", ""]) {
    const choice = argsChoiceOf(command);
    assert.equal(choice.model, undefined, command);
    const draft = draftFor(choice);
    assert.equal(draft.json, true);
    assert.deepEqual(outcomeOf(choice, draft), { args: undefined });
    assert.deepEqual(outcomeOf(choice, withText(choice, draft, '{"path": "/bin/ls"}')), {
      args: { path: "/bin/ls" },
    });
    assert.deepEqual(outcomeOf(choice, withText(choice, draft, "[1]")), {
      blocker: "Arguments: the arguments must be a JSON object",
    });
    const broken = outcomeOf(choice, withText(choice, draft, "{"));
    assert.ok("blocker" in broken && broken.blocker.startsWith("Arguments: "), JSON.stringify(broken));
  }
  // Names are looked up as own keys only.
  assert.equal(argsChoiceOf("__proto__").model, undefined);
  assert.equal(argsChoiceOf("constructor").model, undefined);
});

test("a raw command starts on its empty form; Run waits for the required members, then sends the form", () => {
  const choice = argsChoiceOf("guest-file-open");
  assert.ok(choice.description?.startsWith("Open a guest file"));
  let draft = draftFor(choice);
  assert.deepEqual([draft.json, draft.text], [false, ""]);
  assert.deepEqual(outcomeOf(choice, draft), { blocker: "Fill in path." });
  draft = withValues(choice, draft, { ...draft.values, path: "/etc/motd" });
  assert.deepEqual(outcomeOf(choice, draft), { args: { path: "/etc/motd" } });
  // The JSON box follows the form.
  assert.deepEqual(JSON.parse(draft.text), { path: "/etc/motd" });
  draft = withValues(choice, draft, { ...draft.values, mode: optionKey("w") });
  assert.deepEqual(JSON.parse(draft.text), { path: "/etc/motd", mode: "w" });
});

test("Edit as JSON: the form follows JSON that fits it, and cannot be gone back to while it does not", () => {
  const choice = argsChoiceOf("guest-exec");
  let draft = asJson(choice, draftFor(choice), true);
  draft = withText(choice, draft, '{"path": "/bin/echo", "arg": ["hi"]}');
  assert.deepEqual(draft.values.arg, ["hi"], "the form follows while the box is shown");
  const back = asJson(choice, draft, false);
  assert.equal(back.json, false);
  assert.deepEqual(outcomeOf(choice, back), { args: { path: "/bin/echo", arg: ["hi"] } });
  assert.equal(back.text, JSON.stringify({ path: "/bin/echo", arg: ["hi"] }, null, 2));
  // JSON the form cannot hold: the box stays, the form keeps its last fitting values, and what is sent
  // is the box's text exactly.
  const odd = withText(choice, draft, '{"path": "/bin/echo", "shell": true}');
  assert.deepEqual(odd.values.arg, ["hi"]);
  assert.equal(asJson(choice, odd, false), odd);
  assert.deepEqual(outcomeOf(choice, odd), { args: { path: "/bin/echo", shell: true } });
});

test("a raw command's name typed after its JSON: JSON that fits fills the form, else stays in the box", () => {
  const fits = draftFor(argsChoiceOf("guest-exec"), '{"path": "/bin/true"}');
  assert.deepEqual([fits.json, fits.values.path], [false, "/bin/true"]);
  const odd = draftFor(argsChoiceOf("guest-exec"), '{"handle": 3}');
  assert.deepEqual([odd.json, odd.text], [true, '{"handle": 3}']);
});

test("a command without arguments sends none; a required flag is sent unticked", () => {
  const none = argsChoiceOf("guest-get-fsinfo");
  assert.deepEqual(outcomeOf(none, draftFor(none)), { args: undefined });
  const password = argsChoiceOf("guest-set-user-password");
  const draft = draftFor(password);
  assert.deepEqual(JSON.parse(draft.text), { crypted: false });
  const filled = withValues(password, draft, { ...draft.values, username: "alice", password: "c2VjcmV0" });
  assert.deepEqual(outcomeOf(password, filled), {
    args: { username: "alice", password: "c2VjcmV0", crypted: false },
  });
});
