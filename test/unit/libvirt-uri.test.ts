import assert from "node:assert/strict";
import { test } from "node:test";
import { LibvirtUriError, resolveUri } from "../../src/libvirt/index.js";

test("qemu:///system means libvirtd's socket, then virtqemud's", () => {
  assert.deepEqual(resolveUri("qemu:///system", {}), {
    remoteName: "qemu:///system",
    socketPaths: ["/run/libvirt/libvirt-sock", "/run/libvirt/virtqemud-sock"],
  });
});

test("qemu:///session lives under XDG_RUNTIME_DIR, else ~/.cache", () => {
  assert.deepEqual(resolveUri("qemu:///session", { XDG_RUNTIME_DIR: "/run/user/1000" }).socketPaths, [
    "/run/user/1000/libvirt/libvirt-sock",
    "/run/user/1000/libvirt/virtqemud-sock",
  ]);
  assert.deepEqual(resolveUri("qemu:///session", { HOME: "/home/a" }).socketPaths, [
    "/home/a/.cache/libvirt/libvirt-sock",
    "/home/a/.cache/libvirt/virtqemud-sock",
  ]);
});

test("qemu+unix with ?socket= uses that socket and sends libvirtd the URI without client parameters", () => {
  assert.deepEqual(resolveUri("qemu+unix:///system?socket=/tmp/x.sock", {}), {
    remoteName: "qemu:///system",
    socketPaths: ["/tmp/x.sock"],
  });
  assert.equal(resolveUri("qemu:///system?mode=legacy&foo=1", {}).remoteName, "qemu:///system?foo=1");
});

test("remote hosts, other transports and other paths are refused with a reason", () => {
  assert.throws(() => resolveUri("qemu+ssh://host/system"), LibvirtUriError);
  assert.throws(() => resolveUri("qemu://host/system"), /names a host/);
  assert.throws(() => resolveUri("qemu:///embed"), /\/system or \/session/);
  assert.throws(() => resolveUri("qemu+unix:///system?socket=rel.sock"), /absolute/);
  assert.throws(() => resolveUri("nonsense"), /not a libvirt URI/);
});
