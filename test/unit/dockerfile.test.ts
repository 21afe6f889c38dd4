import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { skipWithout } from "../helpers/tools.js";

/**
 * No container engine runs here: the Dockerfile is checked as text (each stage's base, user, healthcheck,
 * and that every file it copies exists or is made by an earlier stage), its healthcheck script is run
 * against a stand-in server, and compose.yaml is parsed by docker-compose.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  version: string;
  license: string;
  bin: Record<string, string>;
};

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly name: string;
  readonly base: string;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped; ARGs before the first FROM resolved. */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const [image = "", , name = `stage${stages.length}`] = args.split(/\s+/);
      const base = image.replace(/\$\{(\w+)\}/g, (_, arg: string) => globalArgs.get(arg) ?? "");
      stages.push({ name, base, instructions: [] });
    } else if (stages.length === 0 && keyword.toUpperCase() === "ARG") {
      const [arg = "", value = ""] = args.split("=");
      globalArgs.set(arg, value);
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(path.join(root, "Dockerfile"), "utf8"));
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  assert.ok(found, `no stage ${name}`);
  return found;
};
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword);
const runtime = stages.at(-1) as Stage;

test("every stage starts from the Node LTS slim image", () => {
  assert.deepEqual(
    stages.map((s) => s.name),
    ["build", "deps", "runtime"],
  );
  for (const s of stages) assert.equal(s.base, "node:24-bookworm-slim", s.name);
});

test("build compiles with the dev dependencies; the runtime gets production ones only", () => {
  const build = all(stage("build"), "RUN").map((i) => i.args);
  assert.ok(build.some((r) => /^npm ci\b/.test(r) && !r.includes("--omit=dev")));
  assert.ok(build.includes("npm run build"));
  assert.ok(all(stage("deps"), "RUN").some((i) => /^npm ci .*--omit=dev/.test(i.args)));
  const fromStages = all(runtime, "COPY").map((i) => /--from=(\S+)/.exec(i.args)?.[1]);
  assert.deepEqual([...new Set(fromStages.filter(Boolean))].sort(), ["build", "deps"]);
});

test("the runtime runs as a named non-root user, the worker as entrypoint", () => {
  const users = all(runtime, "USER");
  assert.equal(users.length, 1);
  const user = users[0]?.args.split(":")[0];
  assert.ok(user && user !== "root" && user !== "0", `USER ${user}`);
  assert.ok(all(runtime, "RUN").some((i) => i.args.includes(`useradd`) && i.args.includes(user)));
  const entrypoint = JSON.parse(all(runtime, "ENTRYPOINT")[0]?.args ?? "[]") as string[];
  assert.deepEqual(entrypoint, ["node", "dist/src/main.js"]);
  // The package's command (bin/qga-mqtt.js) runs that same build when there is one, as in the image.
  const bin = readFileSync(path.join(root, pkg.bin["qga-mqtt"] ?? ""), "utf8");
  assert.match(bin, /new URL\("\.\.\/dist\/src\/main\.js", import\.meta\.url\)/);
});

test("OCI labels name the package's version and license; the HTTP server is on by default", () => {
  const labels = all(runtime, "LABEL")
    .map((i) => i.args)
    .join(" ");
  assert.match(labels, /org\.opencontainers\.image\.title="qga-mqtt"/);
  assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.licenses="${pkg.license}"`));
  assert.ok(
    all(runtime, "ARG").some((i) => i.args === `VERSION=${pkg.version}`),
    "ARG VERSION drifted",
  );
  assert.ok(all(runtime, "ENV").some((i) => i.args.includes("QGA_MQTT_HTTP_LISTEN=127.0.0.1:9883")));
});

test("every COPY source is in the build context or made by the stage it comes from", () => {
  const ignored = readFileSync(path.join(root, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const tsconfig = JSON.parse(readFileSync(path.join(root, "tsconfig.json"), "utf8")) as {
    compilerOptions: { outDir: string; rootDir: string };
  };
  // What the stages make: npm ci makes node_modules; tsc makes <outDir>/src from src (rootDir ".").
  assert.equal(tsconfig.compilerOptions.outDir, "dist");
  assert.equal(tsconfig.compilerOptions.rootDir, ".");
  // npm run build also bundles ui/ with Vite into dist/ui (ui/vite.config.ts's outDir), from ui/ and src/.
  const vite = readFileSync(path.join(root, "ui/vite.config.ts"), "utf8");
  assert.match(vite, /new URL\("\.\.\/dist\/ui", import\.meta\.url\)/);
  assert.ok(
    all(stage("build"), "COPY").some((i) => i.args === "ui ./ui"),
    "the build stage lacks ui/",
  );
  const made: Record<string, string[]> = {
    build: ["/app/dist/src", "/app/dist/ui"],
    deps: ["/app/node_modules"],
  };
  for (const s of stages) {
    for (const copy of all(s, "COPY")) {
      const parts = copy.args.split(/\s+/);
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      const sources = parts.filter((p) => !p.startsWith("--")).slice(0, -1);
      for (const source of sources) {
        if (from) {
          assert.ok(made[from]?.includes(source), `${source} is not made by stage ${from}`);
          continue;
        }
        assert.ok(existsSync(path.join(root, source)), `COPY ${source}: not in the repository`);
        assert.ok(!ignored.includes(source), `COPY ${source}: excluded by .dockerignore`);
      }
    }
  }
});

test("the HEALTHCHECK script asks /healthz on the configured port and follows its status", async () => {
  const healthcheck = all(runtime, "HEALTHCHECK")[0]?.args ?? "";
  const command = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)) as string[];
  assert.deepEqual(command.slice(0, 2), ["node", "-e"]);
  let status = 200;
  const asked: string[] = [];
  const server = http.createServer((request, response) => {
    asked.push(request.url ?? "");
    response.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const check = () =>
    run(process.execPath, command.slice(1), { env: { QGA_MQTT_HTTP_LISTEN: `127.0.0.1:${port}` } }).then(
      () => 0,
      (error: { code?: number }) => error.code ?? -1,
    );
  try {
    assert.equal(await check(), 0);
    status = 503;
    assert.equal(await check(), 1);
    assert.deepEqual(asked, ["/healthz", "/healthz"]);
  } finally {
    server.close();
  }
});

test("docker-compose parses compose.yaml", { skip: skipWithout("docker-compose") }, async () => {
  const { stdout } = await run("docker-compose", ["-f", path.join(root, "compose.yaml"), "config"], {
    cwd: root,
  });
  assert.match(stdout, /restart: unless-stopped/);
  assert.match(stdout, /image: eclipse-mosquitto/);
  assert.match(stdout, /\/run\/qga/);
});
