/**
 * Options for the pino logger inside fastify, so every service logs alike: the level from its
 * configuration, secrets redacted before a line is written, and the active span's trace and span
 * ids on every line written inside a span — a log line can then be found from its trace, and the
 * trace from the line.
 *
 * Secrets never reach logs (STYLE): authorization headers and cookies, any `password`, `secret`
 * or `token` field, and the password inside a database URL (the URL itself is kept, as it says
 * which database was meant). Redaction is by path, so a secret under an unexpected key is not
 * caught: log configuration through its own redacting view, not raw objects.
 *
 * The returned object is plain data typed here, not pino's type, so this package needs neither
 * pino nor fastify at run time; its test passes it to fastify 5 to prove the shape is accepted.
 */
import { hostname } from 'node:os';
import { context, trace } from '@opentelemetry/api';
import { TelemetryError, TelemetryErrorCode } from './telemetry-error.ts';

export const LogLevel = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  silent: 'silent',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

export interface LoggerConfig {
  /** Default `info`. */
  readonly level?: string | undefined;
  /** Added to every line (`service`), to tell services apart in a shared log store. */
  readonly serviceName?: string | undefined;
  /** Added to every line (`region`). */
  readonly region?: string | undefined;
  /** More paths to redact, in pino's path syntax (`a.b`, `a.*.c`, `a["x-y"]`). */
  readonly redact?: readonly string[] | undefined;
}

export interface MeridianLoggerOptions {
  readonly level: LogLevel;
  readonly base: Record<string, string | number>;
  readonly redact: {
    readonly paths: string[];
    readonly censor: (value: unknown, path: string[]) => unknown;
  };
  readonly mixin: (mergeObject?: object, level?: number, logger?: object) => Record<string, unknown>;
}

/** Paths redacted in every service's logs. */
export const REDACTED_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  '*.authorization',
  ...['password', 'secret', 'token', 'databaseUrl', 'connectionString'].flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
]);

export const REDACTED = '[redacted]';
const URL_KEYS = new Set(['databaseUrl', 'connectionString']);

/** `scheme://user:***@host/…` for a URL carrying a password; anything else is redacted whole. */
export function redactUrlPassword(value: unknown): unknown {
  if (typeof value !== 'string' || !URL.canParse(value)) return REDACTED;
  const url = new URL(value);
  if (url.password === '') return value;
  url.password = '***';
  return url.toString();
}

function censor(value: unknown, path: string[]): unknown {
  const last = path[path.length - 1];
  return last !== undefined && URL_KEYS.has(last) ? redactUrlPassword(value) : REDACTED;
}

/**
 * The trace fields of a log line written now: `trace_id`, `span_id` and `trace_flags` of the
 * active span (the field names OpenTelemetry's log data model uses), or nothing outside a span.
 */
export function traceFields(): Record<string, string> {
  const spanContext = trace.getSpanContext(context.active());
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: `0${spanContext.traceFlags.toString(16)}`.slice(-2),
  };
}

/** Where `requestLoggerFactory` keeps a request logger's bindings (inherited by its own children). */
const REQUEST_BINDINGS = Symbol('meridian.requestBindings');

interface ChildLogger<L> {
  child(bindings: Record<string, unknown>, options?: object): L;
}

/**
 * Fastify's `childLoggerFactory` (`Fastify({ childLoggerFactory: requestLoggerFactory })`): the
 * logger of each request, with its bindings (`reqId`) written by the mixin on the lines it
 * actually logs instead of bound by pino. pino passes every binding of a new child through its
 * redaction, and its redaction library parses every path anew on each call: one child per
 * request made that a large share of a write's allocations (docs/decisions/0005), for lines that
 * a service logging at `warn` never writes. On a written line the bindings are fields like any other, redacted the same.
 */
export function requestLoggerFactory<L extends ChildLogger<L>>(logger: L, bindings: Record<string, unknown>, options?: object): L {
  const child = logger.child({}, options ?? {});
  const inherited = (logger as unknown as Record<symbol, Record<string, unknown> | undefined>)[REQUEST_BINDINGS];
  (child as unknown as Record<symbol, Record<string, unknown>>)[REQUEST_BINDINGS] = inherited ? { ...inherited, ...bindings } : bindings;
  return child;
}

/** The fields a log line gets besides its own: its request's bindings, then its trace ids. */
function mixin(_mergeObject?: object, _level?: number, logger?: object): Record<string, unknown> {
  const bindings = (logger as Record<symbol, Record<string, unknown> | undefined> | undefined)?.[REQUEST_BINDINGS];
  const trace = traceFields();
  return bindings === undefined ? trace : { ...bindings, ...trace };
}

/** Options for `Fastify({ logger: loggerOptions(…) })` (or `pino(loggerOptions(…))`). */
export function loggerOptions(config: LoggerConfig = {}): MeridianLoggerOptions {
  const level = config.level ?? LogLevel.info;
  if (!(Object.values(LogLevel) as string[]).includes(level)) {
    throw new TelemetryError(TelemetryErrorCode.InvalidConfig, `logger level: expected one of ${Object.values(LogLevel).join(', ')} (got ${JSON.stringify(level)})`);
  }
  const base: Record<string, string | number> = { pid: process.pid, hostname: hostname() };
  if (config.serviceName !== undefined) base['service'] = config.serviceName;
  if (config.region !== undefined) base['region'] = config.region;
  return {
    level: level as LogLevel,
    base,
    redact: { paths: [...REDACTED_PATHS, ...(config.redact ?? [])], censor },
    mixin,
  };
}
