/** @meridian/region: the region service, as a library (main.ts runs it as a program). */
export { startRegion, type RegionService, type RegionHooks } from './region.ts';
export { loadConfig, describeConfig, configReference, secretSettings, ConfigError, type RegionConfig } from './config.ts';
export { ERRORS, MeridianError, type ErrorCode } from './errors.ts';
export { parseSession, formatSession, mergeSessions, type SessionVector } from './session-token.ts';
