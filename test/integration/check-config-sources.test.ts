import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCli } from "../helpers/cli.js";

/**
 * check-config shows what `run` would do with the same configuration: the sources it would watch (globs,
 * Proxmox, libvirt, static VMs) and the broker it would use, also with no file at all (the defaults).
 */
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "qga-check-sources-"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("with no file: the default glob, Proxmox and libvirt as this host has them, and the local broker", async () => {
  const pve = path.join(dir, "pve");
  const absent = {
    QGA_MQTT_DISCOVERY_PROXMOX_CONFIG_DIR: path.join(dir, "no-pve"),
    QGA_MQTT_DISCOVERY_LIBVIRT_URI: `qemu+unix:///system?socket=${path.join(dir, "no-libvirt-sock")}`,
  };
  const none = await runCli(["check-config"], absent);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /no source configured/);
  assert.match(none.stdout, /glob \/run\/qemu\/\*\/qga\.sock/);
  assert.match(none.stdout, new RegExp(`Proxmox: off \\(no ${path.join(dir, "no-pve")}\\)`));
  assert.match(none.stdout, /libvirt: off \(no libvirtd socket at [^)]*no-libvirt-sock\)/);
  assert.match(none.stdout, /broker 127\.0\.0\.1:1883 if a broker answers there, else an embedded one/);

  // A Proxmox node: the preset is on by itself.
  await mkdir(pve);
  const proxmox = await runCli(["check-config"], {
    ...absent,
    QGA_MQTT_DISCOVERY_PROXMOX_CONFIG_DIR: pve,
    QGA_MQTT_DISCOVERY_PROXMOX_SOCKET_DIR: path.join(dir, "sockets"),
  });
  assert.equal(proxmox.code, 0, proxmox.stderr);
  assert.match(
    proxmox.stdout,
    new RegExp(`Proxmox: VMs of ${pve}/\\*\\.conf, agents at ${dir}/sockets/\\*\\.qga`),
  );
});

test("with a file: its sources (and only those) and its broker", async () => {
  const file = path.join(dir, "sources.yaml");
  await writeFile(
    file,
    [
      "mqtt: { url: mqtt://broker.example:1883 }",
      "vms:",
      "  - { name: web1, socket: /run/qemu/web1.sock }",
      "  - { name: db1, socket: tcp://127.0.0.1:4444 }",
      "discovery:",
      "  globs: [{ pattern: /srv/vms/*/qga.sock, groups: [lab] }]",
      "  rescanSeconds: 7",
    ].join("\n"),
  );
  const result = await runCli(["check-config", "--config", file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /broker mqtt:\/\/broker\.example:1883/);
  assert.match(
    result.stdout,
    /static VMs: web1 \(\/run\/qemu\/web1\.sock\), db1 \(tcp:\/\/127\.0\.0\.1:4444\)/,
  );
  assert.match(result.stdout, /glob \/srv\/vms\/\*\/qga\.sock \(groups: lab\)/);
  assert.match(result.stdout, /Proxmox: off/);
  assert.match(result.stdout, /libvirt: off/);
  assert.match(result.stdout, /rescan every 7 s/);
  assert.doesNotMatch(result.stdout, /\/run\/qemu\/\*\/qga\.sock/);
});
