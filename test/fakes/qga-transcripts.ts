// Byte-level scenarios whose reply transcripts must be identical from the real qemu-ga and the fake
// (test/unit/fake-agent.test.ts runs both). They cover every error path found on the real agent.
import { RawClient } from "./raw-client.js";

const FF = "\xff"; // RawClient writes strings as latin1: this is the byte 0xFF
const sync = (id: number) => `${FF}{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`;
const ping = (id: unknown) => `{"execute":"guest-ping","id":${JSON.stringify(id)}}`;

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** Chunks written one by one on one connection. */
const SCRIPT: (string | Buffer)[] = [
  `{"execute":"guest-ping"}${ping("a1")}{"execute":"guest-nope","id":7}{"execute":"guest-fsfreeze-status"}`,
  '{"execute":"guest-sync","arguments":{"id":-5}}{"execute":"guest-sync-delimited","arguments":{"id":5},"id":"r"}',
  '{"execute":"guest-ping","id":[1.0,0.1,-0.0,1e400,1e-7,1e17,9223372036854775808,18446744073709551616,-9223372036854775809]}',
  utf8('{"execute":"guest-ping","id":"\\u00e9\\ud83d\\ude00\x7f\u00e9/\\/\\u0000\\t"}'),
  '{\'execute\':\'guest-ping\',\'id\':\'sq"\'}{"execute":"guest-ping","id":{"b":1,"a":[]}}',
  '{"execute":"guest-ping","foo":1,"id":1}{"execute":1}{"execute":"guest-ping","arguments":[]}{}[]5 "x" ',
  '{"execute":"guest-exec","arguments":{"path":"x"}}{"execute":"guest-shutdown","arguments":{"mode":"bogus"}}',
  '{"execute":"guest-sync","arguments":{"id":5,"x":1,"y":2}}{"execute":"guest-sync"}{"execute":"guest-sync","arguments":{"id":1.0}}',
  '{"execute":"guest-sync","arguments":{"id":"s","x":1}}{"execute":"guest-ping","arguments":{"b":1,"a":2,"host":1}}',
  '{"execute":"guest-ping","execute":"x"}{1:2}{"a" 1}{"a":1 "b":2}[1 2]{"a":}[1,]tru [}]}]',
  '{"execute":"guest-ping","id":"x\\q"}{"execute":"guest-ping","id":"\\ud800\\u0041"}{"execute":"guest-ping","id":"\\u12"}',
  '{"execute":"guest-ping","id":"a\nb"}abc!{"execute":"guest-ping"}{"execute":"guest-ping","id":%d}',
  '{"execute":"guest-ping","id":01}{"execute":"guest-ping","id":-}{"execute":"guest-ping","id":1e}',
  Buffer.from([0x00, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d, 0xc0, 0x80]), // NUL, {"a":"\xC3"}, overlong
  `{"execute":"guest-ping"${FF}{"execute":"gue${FF}${FF}{"execute":"guest-ping","id":"\xc0\x80"}`,
];

export async function scriptTranscript(socketPath: string): Promise<string[]> {
  const c = await RawClient.connect(socketPath);
  try {
    for (const chunk of SCRIPT) await c.write(chunk);
    await c.write(sync(424242));
    return await c.linesUntil(`${FF}{"return": 424242}`);
  } finally {
    c.destroy();
  }
}

/** Several clients: a half request left by one, a second one waiting, guest-info. */
export async function clientsTranscript(socketPath: string): Promise<string[]> {
  const a = await RawClient.connect(socketPath);
  await a.write('{"execute":"guest-ping"');
  await a.close();
  const b = await RawClient.connect(socketPath);
  const c = await RawClient.connect(socketPath);
  try {
    await c.write(ping("c"));
    await b.write(`${ping("b1")}{"execute":"guest-info"}`);
    await b.write(sync(7));
    const fromB = await b.linesUntil(`${FF}{"return": 7}`);
    await b.write('{"execute":"guest-info"}');
    const [info = ""] = await b.lines(1);
    await b.close();
    // only what the fake implements, compared in the real agent's order
    const fake = new Set([
      "guest-info",
      "guest-ping",
      "guest-sync",
      "guest-sync-delimited",
      "guest-shutdown",
      "guest-exec",
    ]);
    const listed = JSON.parse(info).return.supported_commands.filter((x: { name: string }) =>
      fake.has(x.name),
    );
    return [...fromB, JSON.stringify(listed), ...(await c.lines(1))];
  } finally {
    b.destroy();
    c.destroy();
  }
}
