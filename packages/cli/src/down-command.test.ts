/** What `meridian down` may sweep after a dead supervisor: only the cluster's programs, by recorded pid or process group. */
import { describe, expect, it } from 'vitest';
import type { ClusterFile, ProcessEntry } from '@meridian/infra-local';
import { clusterLeftovers } from './down-command.ts';

const file = (detached: boolean): ClusterFile => ({
  regions: [{ id: 'eu', url: 'http://127.0.0.1:8081', kafka: '127.0.0.1:19092', database: 'meridian_local_eu' }],
  gslb: null, zipkin: 'http://127.0.0.1:9411', detached, startedAt: '2026-01-01T00:00:00Z', logs: '/l', auth: null,
  pids: { supervisor: 100, 'region-eu': 101, 'kafka-eu': 102 },
});
const proc = (pid: number, pgid: number, cmdline: string, state = 'S'): ProcessEntry => ({ pid, ppid: 1, pgid, state, cmdline });

describe('clusterLeftovers', () => {
  const table = [
    proc(101, 100, 'node --conditions=meridian-source /r/services/region/src/main.ts'),
    proc(102, 100, 'java -cp /c/* kafka.Kafka /r/.meridian/kafka/eu/server.properties'),
    proc(103, 100, 'java -jar /c/zipkin-server-3.5.1-exec.jar'), // not recorded, but in the detached group
    proc(104, 555, 'java -jar /c/zipkin-server-3.5.1-exec.jar'), // another group: someone else's Zipkin
    proc(101 + 1000, 100, 'bash'), // in the group, but not one of the cluster's programs
    proc(105, 100, 'node /r/services/region/src/main.ts', 'Z'), // exited already
  ];
  it('takes recorded pids and, for a detached supervisor, its group — only the cluster\'s programs', () => {
    expect(clusterLeftovers(file(true), table).map((p) => p.pid)).toEqual([101, 102, 103]);
  });
  it('takes only recorded pids when the supervisor ran in a terminal (its group is the shell\'s)', () => {
    expect(clusterLeftovers(file(false), table).map((p) => p.pid)).toEqual([101, 102]);
  });
  it('leaves a reused pid alone', () => {
    expect(clusterLeftovers(file(false), [proc(101, 7, 'vim notes.txt')])).toEqual([]);
  });
});
