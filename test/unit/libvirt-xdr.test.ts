import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  decodeAgentCommandRet,
  decodeListAllDomainsRet,
  encodeAgentCommandArgs,
  readDomain,
  uuidToBytes,
  uuidToString,
  writeDomain,
} from "../../src/libvirt/procedures.js";
import { XdrError, XdrReader, XdrWriter } from "../../src/libvirt/xdr.js";

test("XDR primitives round-trip", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.boolean(),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.option(fc.string({ maxLength: 10 })),
      (i, u, h, uh, b, s, bytes, maybe) => {
        const buffer = new XdrWriter(4)
          .int(i)
          .uint(u)
          .hyper(h)
          .uhyper(uh)
          .bool(b)
          .string(s)
          .opaque(bytes)
          .optional(maybe, (w, v) => w.string(v))
          .toBuffer();
        assert.equal(buffer.length % 4, 0, "everything is padded to 4 bytes");
        const r = new XdrReader(buffer);
        assert.equal(r.int(), i);
        assert.equal(r.uint(), u);
        assert.equal(r.hyper(), h);
        assert.equal(r.uhyper(), uh);
        assert.equal(r.bool(), b);
        assert.equal(r.string(), s);
        assert.deepEqual(new Uint8Array(r.opaque()), bytes);
        assert.equal(
          r.optional((x) => x.string()),
          maybe,
        );
        r.end("test");
      },
    ),
  );
});

test("XDR strings are length-prefixed UTF-8 padded with zeros (RFC 4506 layout)", () => {
  assert.deepEqual(
    [...new XdrWriter().string("abcde").toBuffer()],
    [0, 0, 0, 5, 97, 98, 99, 100, 101, 0, 0, 0],
  );
  assert.deepEqual([...new XdrWriter().string("é").toBuffer()], [0, 0, 0, 2, 0xc3, 0xa9, 0, 0]);
  assert.deepEqual([...new XdrWriter().int(-2).toBuffer()], [0xff, 0xff, 0xff, 0xfe]);
  assert.deepEqual([...new XdrWriter().optional(null, (w, v: number) => w.int(v)).toBuffer()], [0, 0, 0, 0]);
});

test("XDR reader refuses truncated input, bad bools, over-long strings and lying array counts", () => {
  assert.throws(() => new XdrReader(Buffer.from([0, 0, 0])).int(), XdrError);
  assert.throws(() => new XdrReader(Buffer.from([0, 0, 0, 8, 1, 2, 3, 4])).string(), /truncated/);
  assert.throws(() => new XdrReader(Buffer.from([0, 0, 0, 2])).bool(), /bool/);
  assert.throws(() => new XdrReader(new XdrWriter().string("abcdef").toBuffer()).string(5), /maximum 5/);
  assert.throws(() => new XdrReader(Buffer.from([0x7f, 0xff, 0xff, 0xff])).array((r) => r.int()), XdrError);
  assert.throws(() => new XdrReader(Buffer.from([0, 0, 0, 1, 0, 0, 0, 0])).end("x"), /8 unexpected bytes/);
  assert.throws(() => new XdrWriter().int(2 ** 31), XdrError);
  assert.throws(() => new XdrWriter().uint(-1), XdrError);
});

test("a domain (remote_nonnull_domain) round-trips, its UUID dashed", () => {
  const domain = { name: "web1", uuid: "014a0028-13e0-47b5-b3ea-85a06f68e597", id: 7 };
  const w = new XdrWriter();
  writeDomain(w, domain);
  const buffer = w.toBuffer();
  // name (4 + 4), uuid as 16 raw bytes without a length, id.
  assert.equal(buffer.length, 8 + 16 + 4);
  assert.equal(buffer.subarray(8, 24).toString("hex"), "014a002813e047b5b3ea85a06f68e597");
  assert.deepEqual(readDomain(new XdrReader(buffer)), domain);
  assert.equal(uuidToString(uuidToBytes("014A002813E047B5B3EA85A06F68E597")), domain.uuid);
  assert.throws(() => uuidToBytes("not-a-uuid"), XdrError);
});

test("CONNECT_LIST_ALL_DOMAINS ret and agent-command args and ret decode as laid out in the .x files", () => {
  const w = new XdrWriter().uint(2);
  writeDomain(w, { name: "a", uuid: "00000000-0000-0000-0000-000000000001", id: 1 });
  writeDomain(w, { name: "bb", uuid: "00000000-0000-0000-0000-000000000002", id: 2 });
  w.uint(2);
  assert.deepEqual(
    decodeListAllDomainsRet(w.toBuffer()).map((d) => d.name),
    ["a", "bb"],
  );

  const args = new XdrReader(
    encodeAgentCommandArgs({ name: "a", uuid: "00000000-0000-0000-0000-000000000001", id: 1 }, "{}", -2, 0),
  );
  readDomain(args);
  assert.equal(args.string(), "{}");
  assert.equal(args.int(), -2);
  assert.equal(args.uint(), 0);
  args.end("qemu_domain_agent_command_args");

  assert.equal(
    decodeAgentCommandRet(new XdrWriter().optional('{"return":{}}', (x, v) => x.string(v)).toBuffer()),
    '{"return":{}}',
  );
  assert.equal(decodeAgentCommandRet(new XdrWriter().bool(false).toBuffer()), null);
});
