import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAddress, parseAddress } from "../../src/qga/address.js";
import { Backoff } from "../../src/qga/backoff.js";

test("addresses: a path is a unix socket, tcp:// a host and port (IPv6 unbracketed)", () => {
  assert.deepEqual(parseAddress("/run/qemu/web1/qga.sock"), {
    kind: "unix",
    path: "/run/qemu/web1/qga.sock",
  });
  assert.deepEqual(parseAddress("tcp://127.0.0.1:4444"), { kind: "tcp", host: "127.0.0.1", port: 4444 });
  assert.deepEqual(parseAddress("tcp://[::1]:4444"), { kind: "tcp", host: "::1", port: 4444 });
  assert.equal(formatAddress(parseAddress("tcp://host:1")), "tcp://host:1");
  assert.throws(() => parseAddress("tcp://host"), /tcp:\/\/host:port/);
  assert.throws(() => parseAddress("tcp://host:99999"), /Invalid URL|tcp:\/\/host:port/);
  assert.throws(() => parseAddress(""), /empty/);
});

test("backoff: capped exponential with jitter between half and all of the ceiling, reset to the start", () => {
  const low = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  const high = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => high.next()),
    [100, 200, 400, 800, 1000],
  );
  high.reset();
  assert.equal(high.next(), 100);
  assert.equal(high.attempts, 1);
});
