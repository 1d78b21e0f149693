import { describe, expect, it } from 'vitest';
import { joinPlan, JoinRefused } from './join-plan.ts';

const member = (region: string, state: 'member' | 'removed') => ({ region, state });

describe('joinPlan', () => {
  it('joins a new region as it is, keeping data from an earlier join', () => {
    expect(joinPlan('sa', false, [{ peer: 'eu', members: [member('us', 'member')] }])).toEqual({ wipe: false, query: '', removedBy: [] });
  });

  it('refuses a removed region without --fresh, naming the peers and the flag', () => {
    const answers = [
      { peer: 'eu', members: [member('sa', 'removed')] },
      { peer: 'us', members: [member('sa', 'member')] },
    ];
    expect(() => joinPlan('sa', false, answers)).toThrow(JoinRefused);
    expect(() => joinPlan('sa', false, answers)).toThrow(/removed from eu: .*meridian join sa --fresh/);
  });

  it('with --fresh wipes the region and asks the peers with fresh=true', () => {
    expect(joinPlan('sa', true, [{ peer: 'eu', members: [member('sa', 'removed')] }])).toEqual({ wipe: true, query: '?fresh=true', removedBy: ['eu'] });
    expect(joinPlan('sa', true, [])).toEqual({ wipe: true, query: '?fresh=true', removedBy: [] });
  });
});
