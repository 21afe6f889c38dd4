/**
 * The faithful fake fleet: `count` FakeAgents (test/fakes/fake-agent.ts, QEMU's JSON lexer ported byte by
 * byte) on dir/<prefix><i>.sock; prints "ready"; SIGTERM stops them. The bench rows use the lean agent
 * (bench/lean-agent.mjs: the real qemu-ga 7.2's recorded answers, at a fraction of the CPU); this one is
 * startFakeFleet(…, "faithful"), to check the lean agent against or to measure with the costlier fake.
 */
import path from "node:path";
import { FakeAgent } from "../test/fakes/fake-agent.js";

const [dir, countText, prefix = "vm"] = process.argv.slice(2);
const count = Number(countText);
const agents: FakeAgent[] = [];
for (let start = 0; start < count; start += 100) {
  const batch = Array.from({ length: Math.min(100, count - start) }, (_, k) =>
    FakeAgent.start({ path: path.join(dir!, `${prefix}${start + k}.sock`) }),
  );
  agents.push(...(await Promise.all(batch)));
}
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void Promise.all(agents.map((agent) => agent.stop())).finally(() => process.exit(0));
});
