import { type AgentAddress, formatAddress } from "./address.js";
import type { Logger } from "./logger.js";
import type { Misbehaviour } from "./misbehaviour.js";

export type AgentState = "online" | "offline";

/**
 * Told when the state changes. `misbehaviour` is set when the agent went offline because the client cut
 * it off for flooding its channel; listeners are told then even if the agent was offline already.
 */
export type StateListener = (
  state: AgentState,
  reason: string | undefined,
  misbehaviour?: Misbehaviour,
) => void;
export type FrozenListener = (frozen: boolean) => void;

/** What a client reports of its agent, to the log and its listeners: its state, and the guest's freeze. */
export class StateReport {
  private stateValue: AgentState = "offline";
  private frozenValue = false;
  /** The cut-off listeners were last told of: each is told once. */
  private reportedMisbehaviour: Misbehaviour | undefined;
  private readonly stateListeners = new Set<StateListener>();
  private readonly frozenListeners = new Set<FrozenListener>();

  constructor(
    private readonly address: AgentAddress,
    private readonly log: Logger,
  ) {}

  get state(): AgentState {
    return this.stateValue;
  }

  get frozen(): boolean {
    return this.frozenValue;
  }

  onStateChange(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onFrozenChange(listener: FrozenListener): () => void {
    this.frozenListeners.add(listener);
    return () => this.frozenListeners.delete(listener);
  }

  setState(state: AgentState, reason: string | undefined, misbehaviour?: Misbehaviour): void {
    const newCutOff = misbehaviour !== undefined && misbehaviour !== this.reportedMisbehaviour;
    if (this.stateValue === state && !newCutOff) return;
    this.stateValue = state;
    if (newCutOff) this.reportedMisbehaviour = misbehaviour;
    const where = formatAddress(this.address);
    if (state === "online") this.log.info({ address: where }, "guest agent online");
    else this.log.info({ address: where, reason }, "guest agent offline");
    for (const listener of this.stateListeners) listener(state, reason, newCutOff ? misbehaviour : undefined);
  }

  setFrozen(frozen: boolean): void {
    if (this.frozenValue === frozen) return;
    this.frozenValue = frozen;
    for (const listener of this.frozenListeners) listener(frozen);
  }
}
