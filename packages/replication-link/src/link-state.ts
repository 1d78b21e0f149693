/**
 * The state of one replication link (this region consuming a peer's topic), as a transition
 * table the compiler checks for completeness: every (state, event) pair names its next state.
 *
 *   connecting  — joining the peer's Kafka and the consumer group, seeking to stored offsets
 *   streaming   — applying, caught up (lag within the bound)
 *   catching-up — applying, behind the bound
 *   paused      — stopped on purpose: a newer schema version arrived (upgrade in progress), or
 *                 an operator paused the link
 *   failed      — cannot continue from where it is: Kafka no longer has the stored offset
 *                 (retention passed during a long outage): the region needs a reseed, which
 *                 anti-entropy with the peer does by itself when it runs (anti-entropy/reseed.ts;
 *                 `resumed` then restarts the link)
 */

export const LinkStates = ['connecting', 'streaming', 'catching-up', 'paused', 'failed'] as const;
export type LinkState = (typeof LinkStates)[number];

export const LinkEvents = ['joined', 'caught-up', 'fell-behind', 'disconnected', 'schema-too-new', 'offset-lost', 'operator-paused', 'resumed'] as const;
export type LinkEvent = (typeof LinkEvents)[number];

/** `satisfies` makes a missing state or event a compile error. */
export const LINK_TRANSITIONS = {
  connecting: { joined: 'catching-up', 'caught-up': 'streaming', 'fell-behind': 'catching-up', disconnected: 'connecting', 'schema-too-new': 'paused', 'offset-lost': 'failed', 'operator-paused': 'paused', resumed: 'connecting' },
  streaming: { joined: 'streaming', 'caught-up': 'streaming', 'fell-behind': 'catching-up', disconnected: 'connecting', 'schema-too-new': 'paused', 'offset-lost': 'failed', 'operator-paused': 'paused', resumed: 'streaming' },
  'catching-up': { joined: 'catching-up', 'caught-up': 'streaming', 'fell-behind': 'catching-up', disconnected: 'connecting', 'schema-too-new': 'paused', 'offset-lost': 'failed', 'operator-paused': 'paused', resumed: 'catching-up' },
  paused: { joined: 'paused', 'caught-up': 'paused', 'fell-behind': 'paused', disconnected: 'paused', 'schema-too-new': 'paused', 'offset-lost': 'failed', 'operator-paused': 'paused', resumed: 'connecting' },
  failed: { joined: 'failed', 'caught-up': 'failed', 'fell-behind': 'failed', disconnected: 'failed', 'schema-too-new': 'failed', 'offset-lost': 'failed', 'operator-paused': 'failed', resumed: 'connecting' },
} as const satisfies Record<LinkState, Record<LinkEvent, LinkState>>;

export function nextLinkState(state: LinkState, event: LinkEvent): LinkState {
  return LINK_TRANSITIONS[state][event];
}
