import assert from "node:assert/strict";
import { test } from "node:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import pino from "pino";
import { type VmView, WorkerMetrics } from "../../src/http/metrics.js";
import { parseListen, startHttpServer } from "../../src/http/server.js";

/** The HTTP server against a stand-in fleet and bus: no broker, no agents. */
async function serve() {
  let connected = false;
  let disconnected: ((reason: string) => void) | undefined;
  const vms: VmView[] = [
    { name: "a", availability: "online", queueDepth: 3 },
    { name: "b", availability: "offline", queueDepth: 0 },
  ];
  const fleet = { brokerConnected: () => connected, vms: () => vms };
  const metrics = new WorkerMetrics();
  metrics.attach(fleet);
  const server = await startHttpServer({
    listen: "127.0.0.1:0",
    metrics,
    fleet,
    bus: {
      onDisconnect(listener) {
        disconnected = listener;
        return () => {
          disconnected = undefined;
        };
      },
    },
    log: pino({ level: "silent" }),
  });
  const url = (p: string) => `http://127.0.0.1:${server.port}${p}`;
  return {
    server,
    metrics,
    url,
    connect: () => {
      connected = true;
    },
    disconnect: (reason: string) => {
      connected = false;
      disconnected?.(reason);
    },
  };
}

test("parseListen splits host:port and [v6]:port", () => {
  assert.deepEqual(parseListen("127.0.0.1:9883"), { host: "127.0.0.1", port: 9883 });
  assert.deepEqual(parseListen("[::1]:9883"), { host: "::1", port: 9883 });
  assert.deepEqual(parseListen("localhost:0"), { host: "localhost", port: 0 });
});

test("/healthz: 503 before the first connect, 200 connected, 503 with the bus's reason after", async () => {
  const s = await serve();
  try {
    const first = await fetch(s.url("/healthz"));
    assert.equal(first.status, 503);
    assert.match(((await first.json()) as { reason: string }).reason, /not connected .* yet/);
    s.connect();
    const ok = await fetch(s.url("/healthz"));
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { status: "ok", broker: "connected", vms: 2, agents_online: 1 });
    s.disconnect("the broker disconnected us (reason code 142)");
    const down = await fetch(s.url("/healthz"));
    assert.equal(down.status, 503);
    assert.equal(
      ((await down.json()) as { reason: string }).reason,
      "the broker disconnected us (reason code 142)",
    );
    assert.equal((await fetch(s.url("/healthz"), { method: "POST" })).status, 405);
  } finally {
    await s.server.close();
  }
});

test("/metrics: fleet gauges at scrape time, commands and polls as observed, own registry each", async () => {
  const s = await serve();
  const other = new WorkerMetrics();
  try {
    s.metrics.observeCommand("ping", "ok", 0.002);
    s.metrics.observeCommand("ping", "timeout", 5);
    s.metrics.observePoll(0.05, true);
    const families = parsePrometheusTextFormat(await (await fetch(s.url("/metrics"))).text());
    const values = (name: string) => families.find((f) => f.name === name)?.metrics ?? [];
    assert.deepEqual(
      values("qga_mqtt_requests_total").map((m) => [m.labels?.outcome, m.value]),
      [
        ["ok", "1"],
        ["timeout", "1"],
      ],
    );
    assert.equal(values("qga_mqtt_agents_online")[0]?.value, "1");
    assert.equal(values("qga_mqtt_vms")[0]?.value, "2");
    assert.equal(values("qga_mqtt_broker_connected")[0]?.value, "0");
    assert.deepEqual(
      values("qga_mqtt_agent_queue_depth").map((m) => [m.labels?.vm, m.value]),
      [
        ["a", "3"],
        ["b", "0"],
      ],
    );
    assert.ok(
      families.some((f) => f.name === "qga_mqtt_status_poll_duration_seconds" && f.type === "HISTOGRAM"),
    );
    // A second worker's metrics (as in one test process) start from zero: no shared global registry.
    assert.doesNotMatch(await other.registry.metrics(), /qga_mqtt_requests_total\{/);
  } finally {
    await s.server.close();
  }
});
