import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";

export interface NatsCluster {
  /** One mqtt:// URL per node. */
  readonly mqttUrls: readonly string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A NATS cluster of `size` nodes on loopback, each with JetStream and its MQTT listener (NATS speaks MQTT
 * 3.1.1, QoS 0/1, retained messages kept in JetStream). Resolves once a retained message published on the
 * first node is read back on the last: the cluster and its JetStream are ready.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "qga-nats-"));
  const nodes = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      route: await freePort(),
      mqtt: await freePort(),
    })),
  );
  const routes = nodes.map((n) => `nats-route://127.0.0.1:${n.route}`).join(", ");
  const processes: ChildProcess[] = [];
  for (const [i, node] of nodes.entries()) {
    const conf = path.join(dir, `n${i}.conf`);
    await writeFile(
      conf,
      [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${node.client}`,
        `jetstream { store_dir: "${path.join(dir, `js${i}`)}" }`,
        `cluster { name: qga-test, listen: 127.0.0.1:${node.route}, routes: [${routes}] }`,
        `mqtt { listen: 127.0.0.1:${node.mqtt} }`,
      ].join("\n"),
    );
    processes.push(spawn("nats-server", ["-c", conf], { stdio: "ignore" }));
  }
  const mqttUrls = nodes.map((n) => `mqtt://127.0.0.1:${n.mqtt}`);
  const cluster: NatsCluster = {
    mqttUrls,
    async stop() {
      await Promise.all(
        processes.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGKILL");
          await once(child, "exit");
        }),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await readyAcross(mqttUrls[0]!, mqttUrls.at(-1)!);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** A retained message from the first node readable on the last: routes are up and JetStream has a leader. */
async function readyAcross(first: string, last: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  const options = { protocolVersion: 4 as const, reconnectPeriod: 0, connectTimeout: 2_000 };
  while (Date.now() < deadline) {
    try {
      const publisher = await mqtt.connectAsync(first, options);
      await publisher.publishAsync("ready/probe", "1", { qos: 1, retain: true });
      await publisher.endAsync();
      const reader = await mqtt.connectAsync(last, options);
      const got = new Promise<boolean>((resolve) => {
        reader.on("message", () => resolve(true));
        setTimeout(() => resolve(false), 2_000);
      });
      await reader.subscribeAsync("ready/probe", { qos: 1 });
      const ok = await got;
      await reader.endAsync();
      if (ok) return;
    } catch {
      // Not up yet: JetStream elects its leader a few seconds after the routes connect.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("the NATS cluster did not become ready within 60 s");
}
