// Tiny real VMs for tests: a Debian kernel and an initramfs running qemu-ga (built by build-guest.sh), under
// QEMU with TCG. Boots to a running agent in seconds; see test/e2e/test-vm.test.ts for use.
//
// This module is the public face; the parts live beside it, one concept each:
//   guest-image.ts     the guest build, the host programs it needs, the scratch disk
//   qemu-vm.ts         TestVm: the QEMU process, from boot to stop
//   qemu-args.ts       its command line and the files it makes in the VM's folder
//   vm-dirs.ts         the VM's folder, and sweeping those of dead test processes
//   serial-console.ts  the guest console's tail, for error reports
//   agent-socket.ts    AgentSocket: a bare qemu-ga client with no project code
//   qmp-client.ts      the QMP monitor connection and its events
//   util.ts            small shared helpers
export { AgentSocket } from "./agent-socket.js";
export { buildGuest, vmSupportProblem } from "./guest-image.js";
export { type QemuExit, TestVm, type TestVmOptions } from "./qemu-vm.js";
export type { QmpEvent } from "./qmp-client.js";
