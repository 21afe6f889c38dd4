import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeRemoteError,
  ErrorDomain,
  ErrorNumber,
  LibvirtError,
  NO_DOMAIN,
} from "../../src/libvirt/index.js";
import { XdrWriter } from "../../src/libvirt/xdr.js";

function remoteError(fields: {
  code: number;
  domain: number;
  message: string | null;
  withDom?: boolean;
}): Buffer {
  const w = new XdrWriter()
    .int(fields.code)
    .int(fields.domain)
    .optional(fields.message, (x, v) => x.string(v))
    .int(2);
  w.optional(fields.withDom ? { name: "web1" } : null, (x, v) => {
    x.string(v.name).fixedOpaque(Buffer.alloc(16, 0xab), 16).int(3);
  });
  w.optional("str1", (x, v) => x.string(v))
    .optional(null, (x, v: string) => x.string(v))
    .optional(null, (x, v: string) => x.string(v));
  w.int(0).int(0);
  w.optional(null, (x, v: string) => x.string(v));
  return w.toBuffer();
}

test("a remote_error payload decodes to a LibvirtError with libvirt's code, domain and message", () => {
  const error = decodeRemoteError(
    remoteError({
      code: 42,
      domain: 10,
      message: "Domain not found: no domain with matching name 'x'",
      withDom: true,
    }),
  );
  assert.ok(error instanceof LibvirtError);
  assert.ok(error instanceof Error);
  assert.equal(error.code, NO_DOMAIN);
  assert.equal(error.domain, ErrorDomain.QEMU);
  assert.equal(error.level, 2);
  assert.equal(error.message, "Domain not found: no domain with matching name 'x'");
  assert.equal(error.name, "LibvirtError");
});

test("a remote_error without a message still says which error it is", () => {
  const error = decodeRemoteError(remoteError({ code: 1, domain: 7, message: null }));
  assert.equal(error.code, ErrorNumber.INTERNAL_ERROR);
  assert.match(error.message, /libvirt error 1 \(domain 7\)/);
});

test("a truncated remote_error throws instead of inventing fields", () => {
  const full = remoteError({ code: 42, domain: 10, message: "m" });
  assert.throws(() => decodeRemoteError(full.subarray(0, full.length - 4)), /truncated/);
});

test("the virErrorNumber constants match include/libvirt/virterror.h", () => {
  assert.deepEqual(
    [
      ErrorNumber.INTERNAL_ERROR,
      ErrorNumber.NO_DOMAIN,
      ErrorNumber.OPERATION_INVALID,
      ErrorNumber.OPERATION_TIMEOUT,
      ErrorNumber.ARGUMENT_UNSUPPORTED,
      ErrorNumber.OPERATION_UNSUPPORTED,
      ErrorNumber.AGENT_UNRESPONSIVE,
      ErrorNumber.AGENT_UNSYNCED,
      ErrorNumber.AGENT_COMMAND_TIMEOUT,
      ErrorNumber.AGENT_COMMAND_FAILED,
    ],
    [1, 42, 55, 68, 74, 84, 86, 97, 112, 113],
  );
});
