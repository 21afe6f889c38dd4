import { type AgentAddress, connectSocket, formatAddress, type SocketAddress } from "./address.js";
import { AgentChannel } from "./channel.js";
import { AgentUnavailableError } from "./errors.js";
import type { LinkOpener } from "./link.js";

/** Links over a socket of our own: connect, then the channel's handshake (sync, id probe). */
export function socketLinkOpener(address: SocketAddress): LinkOpener {
  return async (options) => {
    const socket = await connectSocket(address, options.connectTimeoutMs);
    return AgentChannel.open(socket, {
      maxReplyBytes: options.maxReplyBytes,
      syncTimeoutMs: options.syncTimeoutMs,
      maxInFlight: options.maxInFlight,
      ...(options.replyLimits ? { replyLimits: options.replyLimits } : {}),
      ...(options.conduct ? { conduct: options.conduct } : {}),
      ...(options.assumeIds !== undefined ? { assumeIds: options.assumeIds } : {}),
    });
  };
}

/** A socket of our own for socket addresses; a libvirt domain cannot be reached without libvirt's API. */
export function defaultLinkOpener(address: AgentAddress): LinkOpener {
  if (address.kind !== "libvirt") return socketLinkOpener(address);
  return () =>
    Promise.reject(
      new AgentUnavailableError(
        `${formatAddress(address)} is a libvirt domain, reached only through libvirt (discovery.libvirt)`,
      ),
    );
}
