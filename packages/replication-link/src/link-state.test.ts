/**
 * The link state machine against a table of expected transitions written out separately, cell
 * by cell: every state × every event. The table below is the specification (docs/design.md,
 * "Link states"); `LINK_TRANSITIONS` is the code. A change to either that the other does not
 * make fails exactly the cells that differ.
 */
import { describe, expect, it } from 'vitest';
import { LINK_TRANSITIONS, LinkEvents, LinkStates, nextLinkState, type LinkEvent, type LinkState } from './link-state.ts';

const EXPECTED = `
state        | joined      | caught-up | fell-behind | disconnected | schema-too-new | offset-lost | operator-paused | resumed
connecting   | catching-up | streaming | catching-up | connecting   | paused         | failed      | paused          | connecting
streaming    | streaming   | streaming | catching-up | connecting   | paused         | failed      | paused          | streaming
catching-up  | catching-up | streaming | catching-up | connecting   | paused         | failed      | paused          | catching-up
paused       | paused      | paused    | paused      | paused       | paused         | failed      | paused          | connecting
failed       | failed      | failed    | failed      | failed       | failed         | failed      | failed          | connecting
`;

const rows = EXPECTED.trim().split('\n').map((line) => line.split('|').map((cell) => cell.trim()));
const [header, ...body] = rows;
const events = header!.slice(1);
const cells = body.flatMap(([state, ...next]) => next.map((to, i) => [state!, events[i]!, to] as const));

describe('the replication link state machine', () => {
  it('has exactly the states and events of the expected table', () => {
    expect(events).toEqual([...LinkEvents]);
    expect(body.map((r) => r[0])).toEqual([...LinkStates]);
    expect(cells).toHaveLength(LinkStates.length * LinkEvents.length);
  });

  it.each(cells)('%s on %s → %s', (state, event, to) => {
    expect(nextLinkState(state as LinkState, event as LinkEvent)).toBe(to);
    expect(LINK_TRANSITIONS[state as LinkState][event as LinkEvent]).toBe(to);
  });

  it('leaves failed only on an operator\'s resume, and paused only on a resume or a lost offset', () => {
    for (const e of LinkEvents) expect(nextLinkState('failed', e), e).toBe(e === 'resumed' ? 'connecting' : 'failed');
    for (const e of LinkEvents) expect(nextLinkState('paused', e), e).toBe(e === 'resumed' ? 'connecting' : e === 'offset-lost' ? 'failed' : 'paused');
  });
});
