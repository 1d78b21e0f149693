import { describe, expect, it } from 'vitest';
import { GslbMetrics, escapeLabel } from './gslb-metrics.ts';
import { HealthBoard } from './health-board.ts';
import { decodeReplicationStatus } from './replication-status.ts';
import { loadConfig } from './config.ts';

describe('GSLB metrics', () => {
  it('renders the exact Prometheus text: counters from the start, gauges from the board', () => {
    const config = loadConfig({ MERIDIAN_GSLB_REGIONS: 'eu=http://eu.test@50.1,8.7;us=http://us.test@39,-77.5' });
    const board = new HealthBoard(config.regions, config);
    const metrics = new GslbMetrics(['eu', 'us']);
    board.recordProbe('eu', { at: 1, ok: true, httpStatus: 200, latencyMs: 1, reason: undefined });
    board.recordReplication('eu', { at: 1, status: decodeReplicationStatus({ applied: {}, peers: { us: { lagSeconds: 2.5 } } }), reason: undefined });
    metrics.probe('eu', true);
    metrics.probe('us', false);
    metrics.probe('us', false);
    metrics.route('eu');
    metrics.route('eu');
    metrics.route(undefined);
    expect(metrics.render(board.observations())).toBe(
      [
        '# HELP meridian_gslb_probes_total Health probes of each region, by result.',
        '# TYPE meridian_gslb_probes_total counter',
        'meridian_gslb_probes_total{region="eu",result="ok"} 1',
        'meridian_gslb_probes_total{region="eu",result="failed"} 0',
        'meridian_gslb_probes_total{region="us",result="ok"} 0',
        'meridian_gslb_probes_total{region="us",result="failed"} 2',
        '# HELP meridian_gslb_routes_total Routing answers (route and redirect), by the region chosen.',
        '# TYPE meridian_gslb_routes_total counter',
        'meridian_gslb_routes_total{region="eu"} 2',
        'meridian_gslb_routes_total{region="us"} 0',
        'meridian_gslb_routes_total{region="none"} 1',
        '# HELP meridian_gslb_region_up 1 when the region is routable (up, or failing fewer than F probes).',
        '# TYPE meridian_gslb_region_up gauge',
        'meridian_gslb_region_up{region="eu"} 1',
        'meridian_gslb_region_up{region="us"} 0',
        '# HELP meridian_gslb_region_lag_seconds The region\'s worst replication lag behind a peer, in seconds.',
        '# TYPE meridian_gslb_region_lag_seconds gauge',
        'meridian_gslb_region_lag_seconds{region="eu"} 2.5',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values as the exposition format requires', () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});
