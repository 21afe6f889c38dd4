import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import mqtt, { type IClientPublishOptions, type MqttClient } from "mqtt";
import { runCli } from "../helpers/cli.js";
import { type Mosquitto, startMosquitto } from "../helpers/mosquitto.js";
import { skipWithout } from "../helpers/tools.js";

/**
 * `qga-mqtt cp vm:path local` asks for several parts at once (the worker reads the next from the guest
 * while one travels), and a part damaged on the way starts the transfer again from the bytes kept. A
 * stand-in worker serves one file by the rules of the get verbs (commands/transfer/get-*.ts): parts in
 * order, a part asked again only at the last offset served.
 */
const skip = skipWithout("mosquitto");
const base = "cpget";
const PART = 64 * 1024;
const file = randomBytes(5 * PART + 1234);
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
let dir: string;
let broker: Mosquitto;
let worker: MqttClient;

interface Asked {
  readonly command: string;
  readonly args: Record<string, unknown>;
}
/** What the stand-in was asked, in order, and the behaviour of the current test. */
const state = {
  asked: [] as Asked[],
  /** Replies to get-part are held until this many are waiting (the old serial client never got there). */
  holdUntil: 1,
  /** The offset whose first serving is damaged (its sha256 does not match its data). */
  damageAt: -1,
  served: 0,
  lastOffset: -1,
  transfer: 0,
};
let held: Array<() => void> = [];

function serve(
  command: string,
  args: Record<string, unknown>,
): { ok: true; result: unknown } | { ok: false; error: unknown } {
  state.asked.push({ command, args });
  if (command === "get-begin") {
    state.transfer += 1;
    state.served = Number(args.offset ?? 0);
    state.lastOffset = -1;
    return {
      ok: true,
      result: {
        transfer: String(state.transfer).padStart(16, "0"),
        size: file.length,
        part_bytes: PART,
        offset: state.served,
      },
    };
  }
  if (command === "get-part") {
    const offset = Number(args.offset);
    if (offset !== state.served && offset !== state.lastOffset)
      return {
        ok: false,
        error: {
          code: "invalid_arguments",
          message: `ask for ${state.served}`,
          details: { offset: state.served },
        },
      };
    const data = file.subarray(offset, offset + PART);
    state.lastOffset = offset;
    state.served = offset + data.length;
    const damaged = offset === state.damageAt;
    if (damaged) state.damageAt = -1;
    return {
      ok: true,
      result: {
        offset,
        data: data.toString("base64"),
        sha256: damaged ? sha256(Buffer.from("x")) : sha256(data),
        eof: state.served >= file.length,
      },
    };
  }
  if (command === "get-end") return { ok: true, result: { bytes: file.length, sha256: sha256(file) } };
  return { ok: true, result: {} };
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-cp-get-"));
  broker = await startMosquitto();
  worker = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  const info = {
    worker: "w1",
    repeat_window_s: 600,
    vms: [{ name: "vm1", groups: ["all"], agent: "online" }],
  };
  await worker.publishAsync(`${base}/bridge/w1/info`, JSON.stringify(info), { retain: true, qos: 1 });
  await worker.publishAsync(`${base}/bridge/w1/state`, "online", { retain: true, qos: 1 });
  worker.on("message", (topic, payload, packet) => {
    const command = topic.split("/").at(-1) ?? "";
    const request = JSON.parse(payload.toString()) as { id: string; args?: Record<string, unknown> };
    const answer = serve(command, request.args ?? {});
    const reply = JSON.stringify({ id: request.id, vm: "vm1", command, ms: 1, ...answer });
    const { responseTopic, correlationData } = packet.properties ?? {};
    const options: IClientPublishOptions = { qos: 1, properties: { correlationData } };
    const send = () =>
      void worker.publishAsync(responseTopic ?? `${base}/vm1/reply/${command}`, reply, options);
    if (command !== "get-part") return send();
    held.push(send);
    const parts = state.asked.filter((asked) => asked.command === "get-part").length;
    const last = Number(request.args?.offset) + PART >= file.length;
    if (held.length >= state.holdUntil || last || parts > 6) {
      for (const release of held) release();
      held = [];
    }
  });
  await worker.subscribeAsync(`${base}/+/cmd/#`, { qos: 1 });
});

after(async () => {
  await worker?.endAsync();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function cp(target: string) {
  return runCli(["cp", "vm1:/data/file.bin", target, "--json", "--timeout", "10"], {
    QGA_MQTT_MQTT_URL: broker.url,
    QGA_MQTT_MQTT_BASE_TOPIC: base,
  });
}

test("a get asks for several parts before the first arrives, and the file lands whole", {
  skip,
}, async () => {
  Object.assign(state, { asked: [], holdUntil: 3, damageAt: -1 });
  const target = path.join(dir, "pipelined.bin");
  const result = await cp(target);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(sha256(await readFile(target)), sha256(file));
  const offsets = state.asked.filter((a) => a.command === "get-part").map((a) => a.args.offset);
  assert.deepEqual(
    offsets,
    [0, 1, 2, 3, 4, 5].map((n) => n * PART),
    "each part once, in order",
  );
});

test("a part damaged on the way: the get begins again from the bytes kept, and the file lands whole", {
  skip,
}, async () => {
  Object.assign(state, { asked: [], holdUntil: 1, damageAt: 2 * PART });
  const target = path.join(dir, "damaged.bin");
  const result = await cp(target);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(sha256(await readFile(target)), sha256(file));
  const begins = state.asked.filter((a) => a.command === "get-begin").map((a) => a.args.offset ?? 0);
  assert.deepEqual(begins, [0, 2 * PART], "begun again at the damaged part's offset");
  assert.ok(
    state.asked.some((a) => a.command === "transfer-abort"),
    "the first transfer was aborted",
  );
});
