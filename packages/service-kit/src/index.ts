/**
 * @meridian/service-kit: what the region service and the GSLB share as programs — the typed
 * configuration schema engine and the error registry base. Pure apart from reading settings.
 */
export { ConfigError, configReference, integer, oneOf, readConfig, type Field, type Parser } from './config-schema.ts';
export { ServiceError, errorBody, type ErrorSpec } from './error-registry.ts';
