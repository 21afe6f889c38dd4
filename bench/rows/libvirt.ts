/**
 * Row 6: the same `guest-ping` to the same tiny guest, through libvirt (our RPC client and libvirtd,
 * which holds the agent socket) against a socket of our own (plain QEMU's chardev), both through the
 * project's GuestAgent, alternating in one run; and what a person does without this project on a
 * libvirt host: one `virsh qemu-agent-command` process per ping.
 */
import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { LibvirtConnection } from "../../src/libvirt/connection.js";
import { SharedLibvirtConnection } from "../../src/libvirt/shared-connection.js";
import { GuestAgent } from "../../src/qga/client.js";
import { libvirtLinkOpener } from "../../src/qga/libvirt-link.js";
import { libvirtTestUri, startLibvirtDomain } from "../../test/helpers/libvirt.js";
import { TestVm } from "../../test/vm/test-vm.js";
import { fmt, summarize } from "../stats.js";
import type { RowOptions, RowResult } from "./types.js";

const execFileAsync = promisify(execFile);
const BOOT_MS = 120_000;

export async function libvirtPing(options: RowOptions): Promise<RowResult> {
  const rounds = options.quick ? 300 : 1_500;
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = { after: (fn: () => Promise<void>) => cleanups.push(fn) };
  let vm: TestVm | undefined;
  const agents: GuestAgent[] = [];
  let shared: SharedLibvirtConnection | undefined;
  try {
    const [plain, domain] = await Promise.all([
      TestVm.boot({ name: "bench-socket" }),
      startLibvirtDomain(cleanup, "bench", { agentTimeoutMs: BOOT_MS }),
    ]);
    vm = plain;
    await plain.waitForAgent(BOOT_MS);
    const uri = libvirtTestUri();
    const connection = new SharedLibvirtConnection({ uri });
    shared = connection;
    const socket = new GuestAgent({ address: plain.qgaSocket });
    const libvirt = new GuestAgent({
      address: `libvirt:${domain.name}`,
      open: libvirtLinkOpener(domain.name, {
        shared: () => connection.get(),
        events: (listener) => connection.onDomainEvent(listener),
        connect: (connectTimeoutMs) => LibvirtConnection.open({ uri, connectTimeoutMs, events: false }),
      }),
    });
    agents.push(socket, libvirt);
    const time = async (agent: GuestAgent): Promise<number> => {
      const start = performance.now();
      await agent.call("guest-ping");
      return performance.now() - start;
    };
    for (let i = 0; i < 50; i++) {
      await time(socket);
      await time(libvirt);
    }
    const bySocket: number[] = [];
    const byLibvirt: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so neither always follows the other's guest wake-up.
      if (i % 2 === 0) {
        bySocket.push(await time(socket));
        byLibvirt.push(await time(libvirt));
      } else {
        byLibvirt.push(await time(libvirt));
        bySocket.push(await time(socket));
      }
    }
    const virshRuns: number[] = [];
    for (let i = 0; i < (options.quick ? 10 : 30); i++) {
      const start = performance.now();
      await execFileAsync("virsh", [
        "-c",
        uri,
        "qemu-agent-command",
        domain.name,
        '{"execute":"guest-ping"}',
      ]);
      virshRuns.push(performance.now() - start);
    }
    const s = summarize(bySocket);
    const l = summarize(byLibvirt);
    const v = summarize(virshRuns);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    return {
      id: "libvirt",
      title: "6. ping through libvirt vs a socket",
      goal: "none set (the issue asks for the comparison)",
      pass: null,
      figures: {
        rounds,
        socket_median_ms: s.median,
        socket_p99_ms: s.p99,
        libvirt_median_ms: l.median,
        libvirt_p99_ms: l.p99,
        virsh_median_ms: v.median,
        ratio_median: l.median / s.median,
        ratio_p99: l.p99 / s.p99,
      },
      table: [
        [
          "guest-ping over a socket of our own (plain QEMU chardev)",
          `${fmt(s.median)} (${fmt(s.p99)})`,
          "1×",
        ],
        [
          "guest-ping through libvirt (RPC to libvirtd, virDomainQemuAgentCommand)",
          `${fmt(l.median)} (${fmt(l.p99)})`,
          `${ratio(l.median, s.median)} (${ratio(l.p99, s.p99)})`,
        ],
        [
          "one `virsh qemu-agent-command` process per ping",
          `${fmt(v.median)} (${fmt(v.p99)})`,
          ratio(v.median, s.median),
        ],
      ],
      notes: [
        `${rounds} pings each, alternating, after 50 of each as warm-up; the same tiny guest image under TCG in both VMs, through the project's GuestAgent.`,
        "libvirt's extra time is its dispatch (RPC decode, the domain's agent job, its event loop) and its own JSON handling; libvirt sends a guest-sync only after a timeout or reconnect, not per command.",
      ],
    };
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
    await shared?.close();
    await vm?.stop();
    await Promise.all(cleanups.map((fn) => fn()));
  }
}
