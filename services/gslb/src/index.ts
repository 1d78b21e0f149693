/**
 * @meridian/gslb: the global server load balancer, as a library (main.ts runs it as a program).
 * The pure parts — the health state machine, the routing decision, CIDR matching, great-circle
 * distance, session coverage — are exported for other services and tests; the I/O parts are
 * the prober and the HTTP app.
 */
export { startGslb, type GslbService, type GslbOptions } from './gslb.ts';
export { buildApp, toErrorAnswer, decisionJson, REDIRECT_PREFIX, type AppDeps } from './app.ts';
export { loadConfig, describeConfig, configReference, ConfigError, REGION_ID, type GslbConfig, type RegionSpec, type NamedLocation } from './config.ts';
export { ERRORS, GslbError, errorBody, type GslbErrorCode } from './errors.ts';
export {
  HealthStatus,
  HealthEventType,
  INITIAL_HEALTH,
  TRANSITIONS,
  nextHealth,
  isRoutable,
  type HealthEvent,
  type HealthThresholds,
  type RegionHealth,
} from './region-health.ts';
export {
  decideRoute,
  locateClient,
  clientAddress,
  compareRanked,
  LocationSource,
  FreshnessTier,
  type RegionView,
  type RoutingConfig,
  type RouteQuery,
  type ClientPosition,
  type RankedRegion,
  type RouteDecision,
} from './route-decision.ts';
export { HealthBoard, type ProbeResult, type ReplicationObservation, type RegionObservation, type HealthBoardOptions } from './health-board.ts';
export { RegionProber, type RegionProberOptions } from './region-prober.ts';
export { GslbMetrics, MetricName, NO_REGION, escapeLabel } from './gslb-metrics.ts';
export { distanceKm, parseGeoPoint, EARTH_RADIUS_KM, GEO_POINT_FORMAT, type GeoPoint } from './great-circle.ts';
export { parseIp, parseCidr, buildCidrTable, matchCidr, type IpAddress, type IpFamily, type CidrBlock } from './cidr-table.ts';
export { decodeReplicationStatus, type ReplicationStatus, type PeerLag } from './replication-status.ts';
