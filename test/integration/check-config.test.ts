import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCli } from "../helpers/cli.js";
import { defineLibvirtDomain, skipWithoutLibvirt } from "../helpers/libvirt.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-check-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The CLI as a user runs it; resolves with its exit code and output. */
const cli = runCli;

test("every example in config/ passes check-config", async (t) => {
  const examples = (await readdir(path.join(root, "config"))).filter((f) => f.endsWith(".yaml"));
  assert.ok(examples.length >= 3);
  // A Proxmox node's layout, for the Proxmox example: its folders come from the environment.
  const pve = path.join(dir, "pve");
  await mkdir(pve, { recursive: true });
  await writeFile(path.join(pve, "101.conf"), "agent: 1\nname: web1\nmemory: 2048\n");
  await writeFile(path.join(pve, "102.conf"), "name: noagent\n");
  const env = {
    // The examples read the broker password from a file of the host they are for: the environment wins.
    QGA_MQTT_MQTT_PASSWORD: "x",
    QGA_MQTT_DISCOVERY_PROXMOX_CONFIG_DIR: pve,
    QGA_MQTT_DISCOVERY_PROXMOX_SOCKET_DIR: pve,
  };
  // The libvirt example asks libvirtd: one defined domain (not started) with the agent channel is listed.
  let domain: string | undefined;
  if (examples.includes("libvirt.yaml")) {
    // In CI skipWithoutLibvirt fails instead: libvirt is installed there.
    const missing = skipWithoutLibvirt();
    if (missing) t.diagnostic(`libvirt example: the domain listing is not checked (${missing})`);
    else domain = await defineLibvirtDomain(t, "check");
  }
  for (const example of examples) {
    const result = await cli(["check-config", "--config", `config/${example}`], env);
    assert.equal(result.code, 0, `${example}: ${result.stderr}`);
    assert.match(result.stdout, /configuration is valid/);
    if (example === "libvirt.yaml" && domain) {
      assert.match(result.stdout, new RegExp(`${domain}\tlibvirt:${domain}\tgroups: libvirt`));
    }
    if (example === "proxmox.yaml") {
      assert.match(result.stdout, /web1\t.*101\.qga\tgroups: proxmox\tlinger 0 ms/);
      assert.doesNotMatch(result.stdout, /noagent/);
    }
  }
});

test("check-config lists the VMs it would serve, with socket, groups, connection and allowed commands", async () => {
  const file = path.join(dir, "ok.yaml");
  await writeFile(
    file,
    [
      "vms:",
      "  - { name: web1, socket: /run/qemu/web1.sock, groups: [web] }",
      "  - { name: db1, socket: tcp://127.0.0.1:4444, connection: { linger: 0 } }",
      "policy: { groups: { web: [read, power] } }",
    ].join("\n"),
  );
  const result = await cli(["check-config", "-c", file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /web1\t\/run\/qemu\/web1\.sock\tgroups: web\thold/);
  assert.match(result.stdout, /db1\ttcp:\/\/127\.0\.0\.1:4444\tgroups: -\tlinger 0 ms/);
  assert.match(result.stdout, /allowed: .*reboot/);
});

test("check-config says what each VM's restrictions cover, and warns of entries that defeat them", async () => {
  const file = path.join(dir, "restricted.yaml");
  await writeFile(
    file,
    [
      "vms:",
      "  - { name: web1, socket: /run/qemu/web1.sock, groups: [web] }",
      "  - { name: db1, socket: /run/qemu/db1.sock }",
      "policy: { default: [read, exec, files] }",
      "restrictions:",
      "  groups: { web: { exec: [/usr/bin/uptime, /bin/*], env: [LANG, LD_PRELOAD], files: [/srv/drop] } }",
    ].join("\n"),
  );
  const result = await cli(["check-config", "-c", file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /web1[\s\S]*exec: \/usr\/bin\/uptime \/bin\/\* \(exec, guest-exec;[^\n]*env: LANG LD_PRELOAD/,
  );
  assert.match(result.stdout, /web1[\s\S]*files: \/srv\/drop \(read-file, write-file, guest-file-open/);
  assert.match(result.stdout, /db1[\s\S]*exec: any program the policy's exec set allows/);
  assert.match(result.stderr, /restrictions exec "\/bin\/\*" allows \/bin\/sh, \/bin\/bash/);
  assert.match(result.stderr, /restrictions env "LD_PRELOAD" is never allowed/);
  assert.doesNotMatch(result.stderr, /uptime/);
});

test("a bad configuration lists every problem by path, in words, and exits 1", async () => {
  const file = path.join(dir, "bad.yaml");
  await writeFile(
    file,
    [
      "mqtt: { url: http://broker, protocolVersion: 6 }",
      "vms:",
      "  - { name: bridge, socket: /a.sock }",
      "  - { name: a+b, socket: /b.sock }",
      "  - { name: web, socket: /c.sock }",
      "  - { name: web, socket: /d.sock }",
      "policy: { default: [read, reeboot] }",
      "unknownSection: 1",
    ].join("\n"),
  );
  const result = await cli(["check-config", "-c", file]);
  assert.equal(result.code, 1);
  for (const expected of [
    /mqtt\.url/,
    /mqtt\.protocolVersion/,
    /vms\[0\]\.name/,
    /reserved/,
    /vms\[1\]\.name/,
    /unknownSection/,
  ]) {
    assert.match(result.stderr, expected);
  }
});

test("duplicate names and policy typos are refused too, naming both places", async () => {
  const file = path.join(dir, "dup.yaml");
  await writeFile(
    file,
    ["vms:", "  - { name: web, socket: /c.sock }", "  - { name: web, socket: /d.sock }"].join("\n"),
  );
  const dup = await cli(["check-config", "-c", file]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /"web" is used twice[\s\S]*vms\[0\]\.name and vms\[1\]\.name/);
  const typo = path.join(dir, "typo.yaml");
  await writeFile(typo, "policy: { default: [read, reeboot] }\n");
  const policy = await cli(["check-config", "-c", typo]);
  assert.equal(policy.code, 1);
  assert.match(policy.stderr, /policy\.default: "reeboot" is neither a policy set nor a command or verb/);
});

test("environment overrides are applied and validated like the file", async () => {
  const result = await cli(["check-config"], {
    QGA_MQTT_MQTT_PROTOCOL_VERSION: "seven",
    QGA_MQTT_MQTT_BASE_TOPIC: "a/b",
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /environment/);
  assert.match(result.stderr, /mqtt\.protocolVersion/);
  assert.match(result.stderr, /mqtt\.baseTopic/);
});

test("schema prints the JSON Schema generated from the zod schema", async () => {
  const result = await cli(["schema"]);
  assert.equal(result.code, 0);
  const schema = JSON.parse(result.stdout) as { properties: Record<string, unknown> };
  assert.ok(schema.properties.mqtt && schema.properties.vms && schema.properties.policy);
});
