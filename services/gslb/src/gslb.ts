/**
 * Wires one GSLB process: the health board, the prober that feeds it, the metrics and the HTTP
 * app. `startGslb` probes at once and serves at once (readiness says when every region has been
 * probed); `close()` stops accepting, lets requests in flight finish, then stops the prober —
 * in that order, so no answer is computed from a board that has stopped moving.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import { buildApp } from './app.ts';
import { HealthBoard } from './health-board.ts';
import { GslbMetrics } from './gslb-metrics.ts';
import { RegionProber } from './region-prober.ts';
import { isRoutable } from './region-health.ts';
import type { GslbConfig } from './config.ts';

export interface GslbService {
  readonly app: FastifyInstance;
  readonly board: HealthBoard;
  readonly prober: RegionProber;
  /** `http://host:port` once listening. */
  readonly url: string;
  close(): Promise<void>;
}

export interface GslbOptions {
  readonly logger?: FastifyServerOptions['logger'];
  /** The clock stamped on probe results; Date.now by default. */
  readonly clock?: () => number;
}

export async function startGslb(config: GslbConfig, options: GslbOptions = {}): Promise<GslbService> {
  const metrics = new GslbMetrics(config.regions.map((r) => r.id));
  // The app's logger exists only once the app is built; transitions before that cannot happen
  // (probing starts after listen), but the board is built first because the app reads it.
  const log: { current: FastifyBaseLogger | undefined } = { current: undefined };
  const board = new HealthBoard(config.regions, config, {
    onTransition: (region, from, to, probe) => {
      const fields = { region, from: from.status, to: to.status, reason: probe.reason };
      if (isRoutable(from.status) && !isRoutable(to.status)) log.current?.warn(fields, 'region down');
      else log.current?.info(fields, 'region state changed');
    },
  });
  const prober = new RegionProber({
    regions: config.regions,
    board,
    intervalMs: config.probeIntervalMs,
    timeoutMs: config.probeTimeoutMs,
    ...(options.clock ? { clock: options.clock } : {}),
    onProbe: (region, result) => metrics.probe(region, result.ok),
    regionToken: config.regionToken,
  });
  const app = await buildApp({ config, board, metrics, ...(options.logger !== undefined ? { logger: options.logger } : {}) });
  log.current = app.log;
  const address = await app.listen({ host: config.host, port: config.port });
  prober.run();
  return {
    app,
    board,
    prober,
    url: address,
    close: async () => {
      await app.close();
      await prober.stop();
    },
  };
}
