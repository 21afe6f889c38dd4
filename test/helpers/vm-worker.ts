import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TestVm } from "../vm/test-vm.js";
import { type Mosquitto, startMosquitto } from "./mosquitto.js";
import { TestClient } from "./mqtt-client.js";
import { startWorker, type WorkerProcess } from "./worker-process.js";

// TCG on 2 shared cores, maybe beside other test files: a boot takes seconds alone, many more when busy.
const BOOT_TIMEOUT_MS = 90_000;
const BASE = "qga";

export interface VmWorkerOptions {
  /** The test VM's name (its files) and the VM's name on the topics. */
  readonly name: string;
  readonly vmName: string;
  readonly memoryMiB?: number;
  /** The VM's `restrictions` entry. */
  readonly restriction: Record<string, unknown>;
  /** `limits` of the worker's configuration; unset: the defaults. */
  readonly limits?: Record<string, unknown>;
}

/**
 * A tiny real VM (test/vm) served by the worker CLI on a real mosquitto, its policy `read`, `exec` and
 * `files`, and a client subscribed to everything, once the VM's agent is online: the e2e tests' set-up.
 */
export class VmWorker {
  private counter = 0;

  private constructor(
    private readonly dir: string,
    private readonly broker: Mosquitto,
    readonly vm: TestVm,
    private readonly worker: WorkerProcess,
    readonly client: TestClient,
    private readonly vmName: string,
  ) {}

  static async start(options: VmWorkerOptions): Promise<VmWorker> {
    const { name, vmName } = options;
    const dir = await mkdtemp(path.join(os.tmpdir(), `qga-${name}-`));
    const booting = TestVm.boot({
      name,
      hostname: vmName,
      disk: true,
      ...(options.memoryMiB ? { memoryMiB: options.memoryMiB } : {}),
    });
    const [broker, vm] = await Promise.all([startMosquitto(), booting]);
    await vm.waitForAgent(BOOT_TIMEOUT_MS);
    const worker = await startWorker(dir, {
      worker: { id: "e2e-host" },
      mqtt: { url: broker.url, baseTopic: BASE },
      vms: [{ name: vmName, socket: vm.qgaSocket }],
      policy: { default: ["read"], vms: { [vmName]: ["read", "exec", "files"] } },
      restrictions: { vms: { [vmName]: options.restriction } },
      ...(options.limits ? { limits: options.limits } : {}),
      status: { intervalSeconds: 60, heartbeatSeconds: 300 },
    });
    const client = await TestClient.connect(broker.url);
    await client.subscribe(`${BASE}/#`);
    await client.next(`${BASE}/${vmName}/availability`, (m) => m.payload.toString() === "online", 30_000);
    return new VmWorker(dir, broker, vm, worker, client, vmName);
  }

  /** Publishes a request as mosquitto_pub would and resolves with the reply on the VM's reply topic. */
  async request(command: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `e${++this.counter}`;
    const reply = this.client.upcoming(
      `${BASE}/${this.vmName}/reply/${command}`,
      (m) => this.client.json(m).id === id,
      60_000,
    );
    await this.client.publish(`${BASE}/${this.vmName}/cmd/${command}`, JSON.stringify({ id, ...body }));
    return this.client.json(await reply);
  }

  async stop(): Promise<void> {
    await this.client.close();
    await this.worker.stop();
    await this.vm.stop();
    await this.broker.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A reply's result, after asserting it is ok. */
export function result(reply: Record<string, unknown>): Record<string, unknown> {
  assert.equal(reply.ok, true, JSON.stringify(reply.error));
  return reply.result as Record<string, unknown>;
}
