import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { catalogue, commandNames, lookupCommand } from "../../src/qga/catalogue/index.js";

/* Argument schemas: strict like qemu-ga's own input visitor, with messages that name the member at fault. */

// One valid argument object per command, with every member the command takes where that is practical.
const validArgs: Record<string, Record<string, unknown>> = {
  "guest-sync-delimited": { id: 123456789 },
  "guest-sync": { id: Number.MAX_SAFE_INTEGER },
  "guest-ping": {},
  "guest-get-time": {},
  "guest-set-time": { time: 1_795_706_843_837_769_000 },
  "guest-info": {},
  "guest-shutdown": { mode: "reboot" },
  "guest-file-open": { path: "/var/log/syslog", mode: "r" },
  "guest-file-close": { handle: 1000 },
  "guest-file-read": { handle: 1000, count: 48 * 1024 * 1024 },
  "guest-file-write": { handle: 1000, "buf-b64": "aGVsbG8=", count: 5 },
  "guest-file-seek": { handle: 1000, offset: -10, whence: "end" },
  "guest-file-flush": { handle: 1000 },
  "guest-fsfreeze-status": {},
  "guest-fsfreeze-freeze": {},
  "guest-fsfreeze-freeze-list": { mountpoints: ["/", "/var"] },
  "guest-fsfreeze-thaw": {},
  "guest-fstrim": { minimum: 0 },
  "guest-suspend-disk": {},
  "guest-suspend-ram": {},
  "guest-suspend-hybrid": {},
  "guest-network-get-interfaces": {},
  "guest-get-vcpus": {},
  "guest-set-vcpus": { vcpus: [{ "logical-id": 1, online: false, "can-offline": true }] },
  "guest-get-disks": {},
  "guest-get-fsinfo": {},
  "guest-set-user-password": { username: "alice", password: "c2VjcmV0", crypted: false },
  "guest-get-memory-blocks": {},
  "guest-set-memory-blocks": { "mem-blks": [{ "phys-index": 99, online: true }] },
  "guest-get-memory-block-info": {},
  "guest-exec-status": { pid: 4242 },
  "guest-exec": {
    path: "/bin/sh",
    arg: ["-c", "cat"],
    env: ["LANG=C"],
    "input-data": "aGkK",
    "capture-output": "separated",
  },
  "guest-get-host-name": {},
  "guest-get-users": {},
  "guest-get-timezone": {},
  "guest-get-osinfo": {},
  "guest-get-devices": {},
  "guest-ssh-get-authorized-keys": { username: "root" },
  "guest-ssh-add-authorized-keys": { username: "root", keys: ["ssh-ed25519 AAAA x@y"], reset: false },
  "guest-ssh-remove-authorized-keys": { username: "root", keys: ["ssh-ed25519 AAAA x@y"] },
  "guest-get-diskstats": {},
  "guest-get-cpustats": {},
  "guest-get-load": {},
  "guest-network-get-route": {},
};

function spec(name: string) {
  const found = lookupCommand(name);
  assert.ok(found, `${name} not in the catalogue`);
  return found;
}

/** All messages for refused arguments, or fails the test if they were accepted. */
function refusal(name: string, args: unknown): string {
  const result = spec(name).args.safeParse(args);
  assert.equal(result.success, false, `${name} accepted ${JSON.stringify(args)}`);
  const messages = result.error?.issues.map((issue) => issue.message) ?? [];
  for (const message of messages) {
    assert.doesNotMatch(
      message,
      /^Invalid input$|Invalid option|Too (big|small):/,
      `zod default: ${message}`,
    );
  }
  return messages.join("; ");
}

test("every command has valid sample arguments, and they parse unchanged", () => {
  assert.deepEqual(
    commandNames.filter((n) => !(n in validArgs)),
    [],
  );
  for (const name of commandNames) {
    const result = catalogue[name].args.safeParse(validArgs[name]);
    assert.ok(result.success, `${name}: ${result.error?.message}`);
    assert.deepEqual(result.data, validArgs[name]);
  }
});

test("a smuggled extra member is refused, by name, for every command", () => {
  for (const name of commandNames) {
    const message = refusal(name, { ...validArgs[name], smuggled: 1 });
    assert.match(message, /unknown argument member "smuggled"/, name);
  }
});

test("any unknown member name is refused and named (property)", () => {
  fc.assert(
    fc.property(fc.constantFrom(...commandNames), fc.string({ minLength: 1, maxLength: 20 }), (name, key) => {
      fc.pre(!Object.hasOwn(catalogue[name].args.shape, key));
      const args = { ...validArgs[name] };
      Object.defineProperty(args, key, { value: true, enumerable: true });
      const result = catalogue[name].args.safeParse(args);
      return !result.success && result.error.issues.some((i) => i.message.includes(`"${key}"`));
    }),
    { numRuns: 300 },
  );
});

test("prototype names smuggled through JSON are unknown members like any other", () => {
  for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const args = JSON.parse(`{"handle": 1, "${key}": {"polluted": true}}`);
    assert.equal(refusal("guest-file-close", args), `unknown argument member "${key}"`);
  }
});

test("unknown members inside nested objects are refused too, with their path", () => {
  assert.equal(
    refusal("guest-set-vcpus", { vcpus: [{ "logical-id": 0, online: true, cpu: 1 }] }),
    'vcpus[0] has unknown member "cpu"',
  );
  assert.equal(
    refusal("guest-set-memory-blocks", {
      "mem-blks": [
        { "phys-index": 1, online: true },
        { online: true, x: 1 },
      ],
    }),
    'mem-blks[1].phys-index is required; mem-blks[1] has unknown member "x"',
  );
});

test("wrong types are refused with a message naming the member", () => {
  const cases: [string, unknown, string][] = [
    ["guest-file-read", { handle: "1000" }, "handle must be an integer, got a string"],
    ["guest-file-read", { handle: 1000.5 }, "handle must be an integer, got 1000.5"],
    ["guest-sync", { id: null }, "id must be an integer, got null"],
    ["guest-exec", { path: "/bin/true", arg: ["-v", 2] }, "arg[1] must be a string, got 2"],
    ["guest-exec", { path: "/bin/true", env: "LANG=C" }, "env must be an array, got a string"],
    [
      "guest-set-vcpus",
      { vcpus: [{ "logical-id": 0, online: "yes" }] },
      "vcpus[0].online must be true or false, got a string",
    ],
    [
      "guest-set-user-password",
      { username: "a", password: "", crypted: 1 },
      "crypted must be true or false, got 1",
    ],
    [
      "guest-ssh-add-authorized-keys",
      { username: "root", keys: "ssh-rsa A" },
      "keys must be an array, got a string",
    ],
    ["guest-fsfreeze-freeze-list", { mountpoints: [{}] }, "mountpoints[0] must be a string, got an object"],
  ];
  for (const [name, args, expected] of cases) assert.equal(refusal(name, args), expected, name);
});

test("missing members are named", () => {
  assert.equal(refusal("guest-sync", {}), "id is required");
  assert.equal(refusal("guest-file-seek", { handle: 1000, offset: 0 }), "whence is required");
  assert.equal(
    refusal("guest-set-user-password", { username: "alice" }),
    "password is required; crypted is required",
  );
});

test("arguments that are not an object are refused as such", () => {
  for (const args of [null, undefined, [], "guest-ping", 1]) {
    assert.equal(refusal("guest-ping", args), "arguments must be a JSON object");
  }
});

test("integers stay within JavaScript's safe range, so ids and sizes arrive exact", () => {
  assert.equal(
    refusal("guest-sync", { id: 2 ** 53 }),
    "id must be at most 9007199254740991, got 9007199254740992",
  );
  assert.equal(refusal("guest-sync", { id: Number.NaN }), "id must be an integer, got a non-finite number");
  assert.equal(spec("guest-sync").args.safeParse({ id: -(2 ** 53) + 1 }).success, true);
  assert.equal(refusal("guest-fstrim", { minimum: -1 }), "minimum must be at least 0, got -1");
});

test("guest-set-time takes nanoseconds beyond 2^53 but not beyond int64", () => {
  const args = spec("guest-set-time").args;
  assert.equal(args.safeParse({ time: Date.now() * 1e6 }).success, true);
  assert.equal(args.safeParse({}).success, true);
  assert.equal(refusal("guest-set-time", { time: 2 ** 63 }), "time must be below 2^63");
  assert.equal(refusal("guest-set-time", { time: 1.5 }), "time must be an integer");
  // The agent reads this back as the int64 meant: JSON.stringify writes plain digits below 1e21.
  assert.equal(JSON.stringify({ time: 1_795_706_843_837_769_000 }), '{"time":1795706843837769000}');
});

test("guest-file-read count is bounded by the agent's 48 MiB", () => {
  assert.equal(
    refusal("guest-file-read", { handle: 1, count: 48 * 1024 * 1024 + 1 }),
    "count must be at most 50331648, got 50331649",
  );
  assert.equal(refusal("guest-file-read", { handle: 1, count: -1 }), "count must be at least 0, got -1");
  assert.equal(spec("guest-file-read").args.safeParse({ handle: 1, count: 0 }).success, true);
});

test("enums are QEMU's exactly", () => {
  for (const mode of ["powerdown", "halt", "reboot"]) {
    assert.equal(spec("guest-shutdown").args.safeParse({ mode }).success, true);
  }
  assert.equal(
    refusal("guest-shutdown", { mode: "poweroff" }),
    'mode must be one of "powerdown", "halt", "reboot"',
  );
  assert.equal(
    refusal("guest-shutdown", { mode: "REBOOT" }),
    'mode must be one of "powerdown", "halt", "reboot"',
  );
  for (const mode of [
    "r",
    "rb",
    "w",
    "wb",
    "a",
    "ab",
    "r+",
    "rb+",
    "r+b",
    "w+",
    "wb+",
    "w+b",
    "a+",
    "ab+",
    "a+b",
  ]) {
    assert.equal(spec("guest-file-open").args.safeParse({ path: "/x", mode }).success, true, mode);
  }
  assert.match(refusal("guest-file-open", { path: "/x", mode: "rw" }), /^mode must be one of "r", "rb"/);
});

test("capture-output takes the 2.5 flag or an 8.0 mode", () => {
  const args = spec("guest-exec").args;
  for (const value of [true, false, "none", "stdout", "stderr", "separated", "merged"]) {
    assert.equal(args.safeParse({ path: "/bin/true", "capture-output": value }).success, true, String(value));
  }
  assert.equal(
    refusal("guest-exec", { path: "/bin/true", "capture-output": "all" }),
    'capture-output must be true, false or one of "none", "stdout", "stderr", "separated", "merged", got a string',
  );
});

test("whence takes a name or the historical code 0-2", () => {
  const args = spec("guest-file-seek").args;
  for (const whence of ["set", "cur", "end", 0, 1, 2]) {
    assert.equal(args.safeParse({ handle: 1, offset: 0, whence }).success, true, String(whence));
  }
  for (const whence of [3, -1, "SET", 1.5]) {
    assert.match(
      refusal("guest-file-seek", { handle: 1, offset: 0, whence }),
      /^whence must be "set", "cur", "end" or 0, 1, 2/,
    );
  }
});

test("base64 members must be base64 (empty allowed)", () => {
  assert.equal(spec("guest-file-write").args.safeParse({ handle: 1, "buf-b64": "" }).success, true);
  assert.equal(spec("guest-exec").args.safeParse({ path: "/bin/cat", "input-data": "" }).success, true);
  for (const text of ["hello", "aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "a===", "aGVsbG8-"]) {
    assert.equal(
      refusal("guest-file-write", { handle: 1, "buf-b64": text }),
      "buf-b64 must be base64 (standard alphabet, padded)",
      JSON.stringify(text),
    );
  }
  assert.equal(
    refusal("guest-exec", { path: "/bin/cat", "input-data": "plain text" }),
    "input-data must be base64 (standard alphabet, padded)",
  );
  assert.equal(
    refusal("guest-set-user-password", { username: "a", password: "hunter2", crypted: false }),
    "password must be base64 (standard alphabet, padded)",
  );
});

test("base64 round-trips any bytes (property)", () => {
  const args = spec("guest-file-write").args;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const text = Buffer.from(bytes).toString("base64");
      const parsed = args.safeParse({ handle: 1, "buf-b64": text, count: bytes.length });
      return parsed.success;
    }),
  );
});

test("guest-file-write count cannot exceed the bytes in buf-b64", () => {
  assert.equal(
    refusal("guest-file-write", { handle: 1, "buf-b64": "aGVsbG8=", count: 6 }),
    "count must not exceed the 5 bytes in buf-b64",
  );
  assert.equal(
    spec("guest-file-write").args.safeParse({ handle: 1, "buf-b64": "aGVsbG8=", count: 5 }).success,
    true,
  );
});

test("paths and user names must not be empty", () => {
  assert.equal(refusal("guest-exec", { path: "" }), "path must not be empty");
  assert.equal(refusal("guest-file-open", { path: "" }), "path must not be empty");
  assert.equal(refusal("guest-ssh-get-authorized-keys", { username: "" }), "username must not be empty");
});

test("a bad buffer is reported once, not also as a count overflow", () => {
  assert.equal(
    refusal("guest-file-write", { handle: 1, "buf-b64": "hello", count: 100 }),
    "buf-b64 must be base64 (standard alphabet, padded)",
  );
  assert.equal(
    refusal("guest-file-write", { handle: 1, "buf-b64": 5, count: 100 }),
    "buf-b64 must be a string, got 5",
  );
});
