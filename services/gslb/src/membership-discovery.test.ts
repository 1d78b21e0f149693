import { describe, expect, it } from 'vitest';
import { decodeMembers, discoveredRegions, type MemberEntry } from './membership-discovery.ts';
import type { RegionSpec } from './config.ts';

const eu: RegionSpec = { id: 'eu', url: 'http://eu.example', location: { lat: 50.1, lon: 8.7 }, weight: 1 };
const us: RegionSpec = { id: 'us', url: 'http://us.example', location: { lat: 39, lon: -77.5 }, weight: 1 };
const member = (region: string, url: string | undefined, state: MemberEntry['state'] = 'member'): MemberEntry => ({ region, url, state });

describe('decodeMembers', () => {
  it('reads a region\'s GET /v1/members answer and leaves out malformed entries', () => {
    expect(decodeMembers({ region: 'eu', members: [
      { region: 'sa', kafka: 'h:1', url: 'http://sa.example/', grpc: null, state: 'member' },
      { region: 'ap', kafka: 'h:2', url: null, state: 'removed' },
      { region: 'BAD', url: 'http://x', state: 'member' },
      { region: 'xx', url: 'ftp://x', state: 'member' },
      { region: 'yy', url: 'http://y', state: 'joining' },
    ] })).toEqual([member('sa', 'http://sa.example'), member('ap', undefined, 'removed'), member('xx', undefined)]);
    expect(() => decodeMembers({ error: {} })).toThrow('expected {"members": [...]}');
  });
});

describe('discoveredRegions', () => {
  it('routes to a region that joined: a member of a configured region, with its URL, no location', () => {
    const answers = new Map([['eu', [member('us', 'http://other'), member('sa', 'http://sa.example')]], ['us', [member('eu', 'http://eu.example')]]]);
    expect(discoveredRegions([eu, us], answers)).toEqual([{ id: 'sa', url: 'http://sa.example', location: undefined, weight: 1 }]);
  });

  it('drops a region that any configured region removed, and one without a URL', () => {
    expect(discoveredRegions([eu, us], new Map([['eu', [member('sa', 'http://sa.example')]], ['us', [member('sa', 'http://sa.example', 'removed')]]]))).toEqual([]);
    expect(discoveredRegions([eu, us], new Map([['eu', [member('sa', undefined)]]]))).toEqual([]);
  });

  it('agrees whatever order the answers arrived in: the URL of the first configured region by id', () => {
    const a = new Map([['us', [member('sa', 'http://sa-2')]], ['eu', [member('sa', 'http://sa-1')]]]);
    const b = new Map([['eu', [member('sa', 'http://sa-1')]], ['us', [member('sa', 'http://sa-2')]]]);
    expect(discoveredRegions([eu, us], a)).toEqual(discoveredRegions([eu, us], b));
    expect(discoveredRegions([eu, us], a)[0]!.url).toBe('http://sa-1');
  });
});
