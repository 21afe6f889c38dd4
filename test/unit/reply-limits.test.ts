import assert from "node:assert/strict";
import { test } from "node:test";
import type { DomainRef } from "../../src/libvirt/index.js";
import { GuestAgent } from "../../src/qga/client.js";
import { AgentReplyError } from "../../src/qga/errors.js";
import { type LibvirtAgentApi, libvirtLinkOpener } from "../../src/qga/libvirt-link.js";
import { parseReplyText } from "../../src/qga/reply.js";
import { DEFAULT_REPLY_LIMITS, replyShapeProblem } from "../../src/qga/reply-limits.js";
import { qgaErrorOf } from "../helpers/errors.js";

/** `depth` arrays, one inside the other, built without recursion. */
function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

test("the bounds are exact: maxDepth levels and maxNodes values pass, one more fails", () => {
  const limits = { maxDepth: 5, maxNodes: 10 };
  assert.equal(replyShapeProblem(nestedArrays(5), limits), undefined);
  assert.match(replyShapeProblem(nestedArrays(6), limits) ?? "", /nested deeper than 5 levels/);
  // An array and nine elements: ten values.
  assert.equal(replyShapeProblem(Array(9).fill(0), limits), undefined);
  assert.match(replyShapeProblem(Array(10).fill(0), limits) ?? "", /more than 10 values/);
  assert.match(replyShapeProblem({ a: 1, b: { c: [1, 2, 3, 4, 5, 6, 7] } }, limits) ?? "", /more than 10/);
  assert.equal(replyShapeProblem("a scalar", limits), undefined);
  assert.equal(replyShapeProblem(null, limits), undefined);
});

test("a value a million levels deep is judged without recursion (no stack overflow)", () => {
  const deep = nestedArrays(1_000_000);
  assert.equal(replyShapeProblem(deep, { maxDepth: 2_000_000, maxNodes: 2_000_000 }), undefined);
  assert.match(replyShapeProblem(deep, DEFAULT_REPLY_LIMITS) ?? "", /nested deeper than 64/);
});

test("the walk stops as soon as a bound is passed: members past it are never read", () => {
  let reads = 0;
  const wide: Record<string, unknown> = {};
  for (let i = 0; i < 10_000; i++) {
    Object.defineProperty(wide, `k${i}`, {
      enumerable: true,
      get: () => {
        reads++;
        return [i];
      },
    });
  }
  assert.match(replyShapeProblem(wide, { maxDepth: 64, maxNodes: 100 }) ?? "", /more than 100 values/);
  assert.ok(reads <= 100, `${reads} members read`);
  reads = 0;
  assert.match(replyShapeProblem({ x: wide }, { maxDepth: 2, maxNodes: 1e9 }) ?? "", /deeper than 2/);
  assert.ok(reads <= 1, `${reads} members read`);
});

test("a __proto__ member is an own member like any other: walked, and it pollutes nothing", () => {
  const line = parseReplyText('{"return": {"__proto__": [[[{"polluted": true}]]]}}', {
    maxDepth: 4,
    maxNodes: 100,
  });
  assert.equal(line.kind, "refused");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("a refused line keeps its top-level id (to fail the right call) and nothing else", () => {
  const text = `{"return": ${"[".repeat(100_000)}${"]".repeat(100_000)}, "id": "q1.7"}`;
  const line = parseReplyText(text);
  assert.deepEqual(line, {
    kind: "refused",
    reason: "the reply is nested deeper than 64 levels (maxReplyDepth)",
    id: "q1.7",
  });
  assert.equal(parseReplyText(`${"[".repeat(100)}${"]".repeat(100)}`).kind, "refused");
});

test("through libvirt too: a reply past the bounds fails its call as InvalidReply", async (t) => {
  const domain: DomainRef = { name: "web1", uuid: "6f0a6c5e-6f5a-4c1e-9d8e-0d1f8a3b5c7e", id: 7 };
  const info = {
    version: "7.2.0",
    supported_commands: ["guest-info", "guest-get-osinfo"].map((name) => ({
      name,
      enabled: true,
      "success-response": true,
    })),
  };
  const deep = `{"return": {"id": "x", "extra": ${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
  const libvirt: LibvirtAgentApi = {
    isOpen: true,
    agentCommand: async (_domain, command) =>
      command.includes("guest-info") ? JSON.stringify({ return: info }) : deep,
    shutdownWithAgent: async () => {},
    rebootWithAgent: async () => {},
    onClose: () => () => {},
    close: async () => {},
  };
  const agent = new GuestAgent({
    address: "libvirt:web1",
    open: libvirtLinkOpener("web1", {
      shared: async () => ({ lookupDomain: async () => domain }),
      connect: async () => libvirt,
      events: () => () => {},
    }),
  });
  t.after(() => agent.stop());
  const error = await qgaErrorOf(agent.call("guest-get-osinfo"));
  assert.ok(error instanceof AgentReplyError, `${error.name}: ${error.message}`);
  assert.equal(error.errorClass, "InvalidReply");
  assert.match(error.desc, /nested deeper than 64/);
});
