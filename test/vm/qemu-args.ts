// The QEMU command line of a test VM, and the files it makes in the VM's folder.
import path from "node:path";
import type { GuestImage } from "./guest-image.js";

/** The files of a VM in its folder: QEMU's two sockets, the serial console log, the optional disk. */
export function vmFiles(dir: string) {
  return {
    qgaSocket: path.join(dir, "qga.sock"),
    qmpSocket: path.join(dir, "qmp.sock"),
    consoleLog: path.join(dir, "console.log"),
    disk: path.join(dir, "disk.img"),
  };
}

export interface QemuArgsOptions {
  image: GuestImage;
  /** The VM's folder (see vmFiles). */
  dir: string;
  memoryMiB: number;
  /** The guest's hostname, passed on the kernel command line to the guest's /init. */
  hostname: string;
  /** Attach the ext4 image at vmFiles(dir).disk (made beforehand), which the guest mounts at /data. */
  disk: boolean;
}

/** Arguments for qemu-system-x86_64: TCG, no default devices, the agent on a virtio-serial port, QMP. */
export function qemuArgs(opts: QemuArgsOptions): string[] {
  const files = vmFiles(opts.dir);
  const args = [
    "-machine",
    "pc",
    // KVM hangs on these hosts; TCG is slower but boots this guest in seconds.
    "-accel",
    "tcg",
    "-cpu",
    "max",
    "-m",
    String(opts.memoryMiB),
    // -nodefaults: no VGA, NIC or CD-ROM to emulate (and no e1000 option ROM to load): a faster boot.
    "-nographic",
    "-nodefaults",
    "-kernel",
    opts.image.kernel,
    "-initrd",
    opts.image.initrd,
    "-append",
    `console=ttyS0 quiet qga_hostname=${opts.hostname}`,
    "-serial",
    `file:${files.consoleLog}`,
    "-chardev",
    `socket,path=${files.qgaSocket},server=on,wait=off,id=qga0`,
    "-device",
    "virtio-serial",
    "-device",
    "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    "-chardev",
    `socket,path=${files.qmpSocket},server=on,wait=off,id=qmp0`,
    "-mon",
    "chardev=qmp0,mode=control",
    // No -no-reboot: guest-shutdown mode=reboot must reset the VM (a RESET event) and the agent come back.
  ];
  if (opts.disk) {
    // cache=unsafe: the image is thrown away with the VM, so host fsyncs are wasted time.
    args.push("-drive", `file=${files.disk},if=virtio,format=raw,cache=unsafe`);
  }
  return args;
}
