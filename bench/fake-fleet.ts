/** Child process of the bench: `count` fake agents on dir/<prefix><i>.sock; prints "ready"; SIGTERM stops them. */
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
