/**
 * @meridian/cli: the `meridian` command (src/main.ts) — the local cluster's lifecycle and its
 * inspection. The exports are the pure parts, for tests and for tools that want the same
 * parsing and wording.
 */
export { parseCommand, UsageError, USAGE, type Command, type UpCommand, type DownCommand, type StatusCommand, type ConflictsCommand, type HelpCommand, type GeoPoint } from './cli-args.ts';
export {
  getJson,
  healthView,
  replicationView,
  probeRegion,
  probeHealth,
  fetchConflicts,
  type HttpAnswer,
  type Health,
  type PeerLag,
  type ReplicationReport,
  type ReplicationView,
  type RegionReport,
  type ConflictPage,
} from './region-client.ts';
export { formatSeconds, formatPeerLag, formatHealth, formatStatusLine, statusLineKey, formatStatus, formatLagTable, type StatusInput } from './status-format.ts';
export { formatConflict, unseenConflicts } from './conflict-format.ts';
export { formatAddresses, walkthroughCommands, formatWalkthrough } from './walkthrough.ts';
export { clusterLeftovers } from './down-command.ts';
