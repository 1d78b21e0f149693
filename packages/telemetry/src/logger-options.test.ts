import { describe, expect, it } from 'vitest';
import { loggerOptions, REDACTED, redactUrlPassword } from './logger-options.ts';
import { TelemetryErrorCode, type TelemetryError } from './telemetry-error.ts';

describe('loggerOptions', () => {
  it('defaults to info and refuses a level pino does not have', () => {
    expect(loggerOptions().level).toBe('info');
    expect(loggerOptions({ level: 'debug' }).level).toBe('debug');
    let error: unknown;
    try {
      loggerOptions({ level: 'verbose' });
    } catch (e) {
      error = e;
    }
    expect((error as TelemetryError).code).toBe(TelemetryErrorCode.InvalidConfig);
    expect((error as Error).message).toBe('logger level: expected one of fatal, error, warn, info, debug, trace, silent (got "verbose")');
  });

  it('adds the caller’s paths to the redacted ones', () => {
    const { paths } = loggerOptions({ redact: ['config.signingKey'] }).redact;
    expect(paths).toContain('config.signingKey');
    expect(paths).toContain('req.headers.authorization');
    expect(paths).toContain('*.databaseUrl');
  });

  it('has no trace fields outside a span', () => {
    expect(loggerOptions().mixin()).toEqual({});
  });

  it('keeps a database URL but hides its password, and redacts what is not a URL', () => {
    const { censor } = loggerOptions().redact;
    expect(censor('postgres://meridian:hunter2@db:5432/eu?sslmode=require', ['config', 'databaseUrl'])).toBe('postgres://meridian:***@db:5432/eu?sslmode=require');
    expect(censor('postgres://db:5432/eu', ['databaseUrl'])).toBe('postgres://db:5432/eu');
    expect(censor('not a url hunter2', ['databaseUrl'])).toBe(REDACTED);
    expect(censor('hunter2', ['config', 'password'])).toBe(REDACTED);
    expect(redactUrlPassword(42)).toBe(REDACTED);
  });
});
