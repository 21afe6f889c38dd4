import assert from "node:assert/strict";
import { test } from "node:test";
import { GuestAgent } from "../../src/qga/client.js";
import { InvalidArgumentsError } from "../../src/qga/errors.js";

/**
 * The values of a `users`-set command are never quoted in an argument error (issue 18, hole 10): before,
 * a raw guest-set-user-password with a number as its password answered "args.password: must be a string,
 * got 424242". Arguments are validated before anything is sent, so no agent is needed.
 */
const agent = new GuestAgent({ address: "/nonexistent/qga.sock" });

async function argumentError(command: string, args: Record<string, unknown>): Promise<string> {
  const error = await agent.execute(command, args).then(
    () => assert.fail("accepted"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InvalidArgumentsError, String(error));
  return error.message;
}

test("guest-set-user-password: the member is named, the value is not", async () => {
  const message = await argumentError("guest-set-user-password", {
    username: 31337,
    password: 424242,
    crypted: "no",
  });
  assert.match(message, /args\.password: must be a string/);
  assert.match(message, /args\.username/);
  for (const secret of ["424242", "31337", '"no"']) assert.ok(!message.includes(secret), message);
});

test("ssh keys: the member is named, the value is not", async () => {
  for (const command of ["guest-ssh-add-authorized-keys", "guest-ssh-remove-authorized-keys"]) {
    const message = await argumentError(command, { username: "root", keys: 987654321 });
    assert.match(message, /args\.keys/);
    assert.ok(!message.includes("987654321"), message);
  }
});

test("other commands still say what was given, which helps", async () => {
  const message = await argumentError("guest-file-read", { handle: "x" });
  assert.match(message, /got a string/);
});
