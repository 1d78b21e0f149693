/** What `meridian up` hands the launcher: the command line's choices and the operator's region settings. */
import { describe, expect, it } from 'vitest';
import { parseCommand, type UpCommand } from './cli-args.ts';
import { localClusterOptions } from './up-command.ts';

describe('localClusterOptions', () => {
  it('hands every region the MERIDIAN_* settings of its environment, but not the ones the launcher owns', () => {
    const command = parseCommand(['up', '--no-auth'], '/tmp/meridian') as UpCommand;
    const options = localClusterOptions(command, { PATH: '/bin', MERIDIAN_TOMBSTONE_MIN_AGE: '5s', MERIDIAN_REGION: 'zz', MERIDIAN_AUTH: 'on' }, () => {});
    expect(options.regionEnv).toEqual({ MERIDIAN_TOMBSTONE_MIN_AGE: '5s' });
    expect(options.auth).toBe('off');
    expect(options.baseDir).toBe('/tmp/meridian');
  });
});
