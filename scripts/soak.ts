/**
 * `npm run soak -- --minutes N [--vms V] [--rate R] [--kill-every S]`: the worker under faults for N
 * minutes. Fake agents with random faults (delays, garbage, disconnects, oversize replies), a real
 * mosquitto (persistent) that is restarted now and then, the worker killed (SIGKILL) and started again
 * every S seconds, and a load generator that checks every reply against what it sent and, as a fleet
 * script would, sends a request again with the same id when no reply came. Each request reads a "file"
 * whose handle is the request's number, so the agents can tell a request that ran twice. Ends with a
 * report; exits 1 if any request was lost or ran twice.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { FakeAgent, type Fault } from "../test/fakes/fake-agent.js";
import { startMosquitto } from "../test/helpers/mosquitto.js";
import { startWorker, type WorkerProcess } from "../test/helpers/worker-process.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    vms: { type: "string", default: "20" },
    rate: { type: "string", default: "100" },
    "kill-every": { type: "string", default: "120" },
  },
});
const minutes = Number(values.minutes);
const vmCount = Number(values.vms);
const rate = Number(values.rate);
const killEveryMs = Number(values["kill-every"]) * 1000;
const base = "soak";
const dir = await mkdtemp(path.join(os.tmpdir(), "qga-soak-"));
const broker = await startMosquitto({ persistence: true });

// Every guest-file-read a request causes, by handle (= request number): more than one means it ran twice.
const runs = new Map<number, number>();
const agents: FakeAgent[] = [];
for (let i = 0; i < vmCount; i++) {
  agents.push(
    await FakeAgent.start({
      path: path.join(dir, `vm${i}.sock`),
      commands: {
        "guest-file-read": (args) => {
          const handle = Number(args.handle);
          runs.set(handle, (runs.get(handle) ?? 0) + 1);
          return { count: 2, "buf-b64": "b2s=", eof: true };
        },
      },
    }),
  );
}
// The same folder at every start: the worker's request journal (in it) outlives a kill.
const startSoakWorker = () =>
  startWorker(dir, {
    worker: { id: "soak" },
    mqtt: { url: broker.url, baseTopic: base },
    vms: agents.map((agent, i) => ({ name: `vm${i}`, socket: agent.path })),
    policy: { default: ["read", "files"] },
    limits: { defaultTimeoutSeconds: 5 },
    agent: { maxReplyBytes: 65536, syncTimeoutMs: 1000 },
    status: { intervalSeconds: 10 },
  });
let worker: WorkerProcess = await startSoakWorker();
const rss = async (): Promise<number> => {
  const status = await readFile(`/proc/${worker.process.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
};
const rssStart = await rss();

// The load generator: a persistent MQTT 5 session, so replies published while it reconnects still arrive.
const client = await mqtt.connectAsync(broker.url, {
  protocolVersion: 5,
  clientId: "soak-load",
  clean: false,
  properties: { sessionExpiryInterval: 600 },
  reconnectPeriod: 200,
});
const replies = new Map<number, Array<{ ok: boolean; code?: string }>>();
client.on("message", (_topic, payload) => {
  const reply = JSON.parse(payload.toString()) as { id: string; ok: boolean; error?: { code: string } };
  const n = Number(reply.id.slice(1));
  replies.set(n, [
    ...(replies.get(n) ?? []),
    { ok: reply.ok, ...(reply.error ? { code: reply.error.code } : {}) },
  ]);
});
await client.subscribeAsync(`${base}/+/reply/#`, { qos: 1 });

const faults: Fault[] = [
  { kind: "delay", ms: 200 },
  { kind: "garbage", bytes: "not json\n" },
  { kind: "disconnect" },
  { kind: "oversize", bytes: 100_000 },
];
const deadline = Date.now() + minutes * 60_000;
let sent = 0;
let restarts = 0;
let kills = 0;
let retries = 0;
let nextRestart = Date.now() + 20_000;
let nextKill = Date.now() + killEveryMs;
console.error(
  `soak: ${minutes} min, ${vmCount} VMs, ${rate} requests/s, mosquitto restarted every 20 s, the worker killed every ${killEveryMs / 1000} s`,
);
// A request without a reply this long after it was last sent is sent again, with its id: the worker's
// timeout (5 s), the trip, and a restart's wait.
const RETRY_AFTER_MS = 10_000;
const lastSent = new Map<number, number>();
const publish = (n: number): void => {
  lastSent.set(n, Date.now());
  const payload = JSON.stringify({ id: `r${n}`, args: { handle: n } });
  void client
    .publishAsync(`${base}/vm${n % vmCount}/cmd/guest-file-read`, payload, { qos: 1 })
    .catch(() => {});
};
const retryUnanswered = (): void => {
  const due = Date.now() - RETRY_AFTER_MS;
  for (const [n, at] of lastSent) {
    if (replies.has(n)) lastSent.delete(n);
    else if (at < due) {
      retries++;
      publish(n);
    }
  }
};
while (Date.now() < deadline) {
  const tickStart = Date.now();
  for (let i = 0; i < rate / 10; i++) publish(++sent);
  retryUnanswered();
  if (Math.random() < 0.2) {
    const agent = agents[Math.floor(Math.random() * agents.length)]!;
    agent.fault("guest-file-read", faults[Math.floor(Math.random() * faults.length)]!);
  }
  if (Date.now() > nextRestart) {
    await broker.restart();
    restarts++;
    nextRestart = Date.now() + 20_000;
  }
  if (Date.now() > nextKill) {
    const exited = new Promise((resolve) => worker.process.once("exit", resolve));
    worker.process.kill("SIGKILL");
    await exited;
    worker = await startSoakWorker();
    kills++;
    nextKill = Date.now() + killEveryMs;
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - tickStart))));
}
// Every request has its reply (sent again where none came), or 30 s pass.
const settle = Date.now() + 30_000;
while (replies.size < sent && Date.now() < settle) {
  retryUnanswered();
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const rssEnd = await rss();

const byCode = new Map<string, number>();
let duplicates = 0;
for (const list of replies.values()) {
  if (list.length > 1) duplicates++;
  const code = list[0]?.ok ? "ok" : (list[0]?.code ?? "?");
  byCode.set(code, (byCode.get(code) ?? 0) + 1);
}
const lost = sent - replies.size;
const ranTwice = [...runs.values()].filter((count) => count > 1).length;
const report = {
  minutes,
  vms: vmCount,
  brokerRestarts: restarts,
  workerKills: kills,
  retries,
  sent,
  replied: replies.size,
  lost,
  duplicateReplies: duplicates,
  ranTwice,
  errorsByCode: Object.fromEntries([...byCode].sort()),
  workerRssStartMiB: Math.round(rssStart / 2 ** 20),
  workerRssEndMiB: Math.round(rssEnd / 2 ** 20),
};
console.log(JSON.stringify(report, null, 2));

await client.endAsync(true);
await worker.stop();
await Promise.all(agents.map((agent) => agent.stop()));
await broker.stop();
await rm(dir, { recursive: true, force: true });
process.exit(lost === 0 && ranTwice === 0 ? 0 : 1);
