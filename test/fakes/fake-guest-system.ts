// The guest behind a FakeAgent for the power, freeze, time and password verbs: two freezable filesystems
// (/ and /data), a clock of its own, passwords, and a shutdown that can be made to refuse. Modelled on
// qemu-ga 7.2 (qga/commands-posix.c): a freeze that froze nothing leaves the agent thawed, a thaw of
// nothing frozen answers 0, guest-shutdown answers nothing when it accepts.
import { AgentFailure, type CommandHandler, NO_REPLY } from "./fake-agent.js";

export interface FakeSystem {
  frozen: boolean;
  /** Guest clock minus host clock. */
  clockOffsetMs: number;
  refuseShutdown: boolean;
}

export function fakeSystem(clockOffsetMs = 0): FakeSystem {
  return { frozen: false, clockOffsetMs, refuseShutdown: false };
}

export function systemCommands(state: FakeSystem): Record<string, CommandHandler> {
  const freezeCount = (count: number) => {
    state.frozen = count > 0;
    return count;
  };
  return {
    "guest-fsfreeze-status": () => (state.frozen ? "frozen" : "thawed"),
    "guest-fsfreeze-freeze": () => freezeCount(2),
    "guest-fsfreeze-freeze-list": (args) =>
      freezeCount((args.mountpoints as string[]).filter((m) => m === "/" || m === "/data").length),
    "guest-fsfreeze-thaw": () => {
      const thawed = state.frozen ? 2 : 0;
      state.frozen = false;
      return thawed;
    },
    "guest-get-time": () => BigInt(Math.round(Date.now() + state.clockOffsetMs)) * 1_000_000n,
    "guest-set-time": (args) => {
      state.clockOffsetMs = Number(args.time) / 1e6 - Date.now();
    },
    "guest-set-user-password": (args) => {
      const plain = Buffer.from(String(args.password), "base64").toString("utf8");
      // An agent whose error quotes the password (user "nobody"): the worker must blank it.
      if (args.username === "nobody") throw new AgentFailure("GenericError", `chpasswd: bad line ${plain}`);
    },
    "guest-shutdown": () => {
      if (state.refuseShutdown)
        throw new AgentFailure("GenericError", "child process has failed to shutdown");
      return NO_REPLY;
    },
  };
}
