// RpcClient against a fake libvirtd on a unix socket: serial matching, events between replies, failures.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { MessageStatus, MessageType, REMOTE_PROGRAM } from "../../src/libvirt/constants.js";
import { ErrorNumber, LibvirtError } from "../../src/libvirt/errors.js";
import { decodeMessage, encodeMessage, FrameDecoder, type Message } from "../../src/libvirt/packet.js";
import { connectUnixSocket, RpcClient } from "../../src/libvirt/rpc-client.js";
import { XdrWriter } from "../../src/libvirt/xdr.js";

interface Fake {
  client: RpcClient;
  events: Message[];
  closes: LibvirtError[];
  calls: Message[];
  /** The server side of the connection. */
  peer: net.Socket;
  nextCall(): Promise<Message>;
}

async function fakeServer(t: TestContext): Promise<Fake> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "libvirt-fake-"));
  const socketPath = path.join(dir, "sock");
  const calls: Message[] = [];
  const waiters: ((m: Message) => void)[] = [];
  let peerResolve: (s: net.Socket) => void = () => {};
  const peerReady = new Promise<net.Socket>((resolve) => {
    peerResolve = resolve;
  });
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on("data", (chunk) => {
      for (const body of decoder.push(chunk)) {
        const message = decodeMessage(Buffer.from(body));
        const waiter = waiters.shift();
        if (waiter) waiter(message);
        else calls.push(message);
      }
    });
    socket.on("error", () => {});
    peerResolve(socket);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const events: Message[] = [];
  const closes: LibvirtError[] = [];
  const socket = await connectUnixSocket(socketPath, 1000);
  const client = new RpcClient(socket, { onEvent: (m) => events.push(m), onClose: (e) => closes.push(e) });
  const peer = await peerReady;
  t.after(async () => {
    await client.end();
    peer.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    client,
    events,
    closes,
    calls,
    peer,
    nextCall: () => {
      const queued = calls.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

function reply(call: Message, payload: Buffer, status: number = MessageStatus.OK): Buffer {
  return encodeMessage({ ...call.header, type: MessageType.REPLY, status }, payload);
}

function call(client: RpcClient, procedure: number, timeoutMs = 5000): Promise<Buffer> {
  return client.call({
    program: REMOTE_PROGRAM,
    version: 1,
    procedure,
    payload: new XdrWriter().int(procedure).toBuffer(),
    timeoutMs,
    what: `proc ${procedure}`,
  });
}

test("replies out of order, split across writes, with an event between them, reach the right calls", async (t) => {
  const fake = await fakeServer(t);
  const results = [call(fake.client, 23), call(fake.client, 66), call(fake.client, 273)];
  const received = [await fake.nextCall(), await fake.nextCall(), await fake.nextCall()];
  assert.deepEqual(
    received.map((m) => m.header.serial),
    [1, 2, 3],
    "serials count up from 1",
  );
  const event = encodeMessage(
    { program: REMOTE_PROGRAM, version: 1, procedure: 318, type: MessageType.MESSAGE, serial: 0, status: 0 },
    Buffer.alloc(4),
  );
  const stream = Buffer.concat([
    reply(received[2]!, Buffer.from("ccc0")),
    event,
    reply(received[0]!, Buffer.from("aaa0")),
    reply(received[1]!, Buffer.from("bbb0")),
  ]);
  // Odd-sized writes: frames straddle the chunks.
  for (let i = 0; i < stream.length; i += 7) fake.peer.write(stream.subarray(i, i + 7));
  const payloads = (await Promise.all(results)).map((b) => b.toString());
  assert.deepEqual(payloads, ["aaa0", "bbb0", "ccc0"]);
  assert.equal(fake.events.length, 1);
  assert.equal(fake.events[0]?.header.procedure, 318);
});

test("an ERROR reply rejects only its own call, with libvirt's error", async (t) => {
  const fake = await fakeServer(t);
  const bad = call(fake.client, 23);
  const good = call(fake.client, 66);
  const [first, second] = [await fake.nextCall(), await fake.nextCall()];
  const error = new XdrWriter()
    .int(42)
    .int(10)
    .optional("Domain not found", (w, v) => w.string(v))
    .int(2)
    .bool(false)
    .bool(false)
    .bool(false)
    .bool(false)
    .int(0)
    .int(0)
    .bool(false)
    .toBuffer();
  fake.peer.write(reply(first, error, MessageStatus.ERROR));
  fake.peer.write(reply(second, Buffer.alloc(0)));
  await assert.rejects(
    bad,
    (err: unknown) => err instanceof LibvirtError && err.code === 42 && err.domain === 10,
  );
  assert.equal((await good).length, 0);
});

test("when the socket drops, every pending call fails at once and onClose runs once", async (t) => {
  const fake = await fakeServer(t);
  const pending = [call(fake.client, 1), call(fake.client, 2), call(fake.client, 3)];
  await fake.nextCall();
  fake.peer.destroy();
  const outcomes = await Promise.allSettled(pending);
  for (const outcome of outcomes) {
    assert.equal(outcome.status, "rejected");
    assert.ok(outcome.reason instanceof LibvirtError);
    assert.match(outcome.reason.message, /closed the connection/);
  }
  assert.equal(fake.closes.length, 1);
  assert.equal(fake.client.isOpen, false);
  await assert.rejects(call(fake.client, 4), /closed the connection/, "later calls fail at once");
});

test("a frame over the maximum size closes the connection with a clear error instead of buffering it", async (t) => {
  const fake = await fakeServer(t);
  const pending = call(fake.client, 1);
  await fake.nextCall();
  const word = Buffer.alloc(4);
  word.writeUInt32BE(64 * 1024 * 1024);
  fake.peer.write(word);
  await assert.rejects(pending, /protocol error from libvirtd: .*over the protocol's maximum/);
  assert.equal(fake.closes.length, 1);
});

test("a call past its timeout fails with OPERATION_TIMEOUT, and its late reply is dropped quietly", async (t) => {
  const fake = await fakeServer(t);
  const slow = call(fake.client, 1, 50);
  const first = await fake.nextCall();
  await assert.rejects(
    slow,
    (err: unknown) => err instanceof LibvirtError && err.code === ErrorNumber.OPERATION_TIMEOUT,
  );
  const next = call(fake.client, 2);
  const second = await fake.nextCall();
  fake.peer.write(Buffer.concat([reply(first, Buffer.from("late")), reply(second, Buffer.from("okay"))]));
  assert.equal((await next).toString(), "okay");
  assert.equal(fake.client.isOpen, true);
});
