import { describe, expect, it } from 'vitest';
import { ConfigError, ServiceError, configReference, errorBody, integer, oneOf, readConfig, type Field } from './index.ts';

interface Conf {
  readonly port: number;
  readonly level: 'a' | 'b';
  readonly token: string | undefined;
  readonly name: string;
}

const FIELDS: readonly Field<Conf>[] = [
  { key: 'port', env: 'X_PORT', doc: 'port', default: 80, parse: integer(1, 100) },
  { key: 'level', env: 'X_LEVEL', doc: 'level', default: 'a', parse: oneOf(['a', 'b'] as const) },
  { key: 'token', env: 'X_TOKEN', doc: 'token', secret: true, default: undefined, shownDefault: '(none)', parse: (raw) => (raw.length > 3 ? raw : ((): never => { throw new Error('at least 4 characters'); })()) },
  { key: 'name', env: 'X_NAME', doc: 'the name', parse: (raw) => raw },
];
const noFile = (): string => {
  throw new Error('no files here');
};

describe('the configuration schema', () => {
  it('reads every setting, defaults the unset ones, and reports every problem at once; a secret is never echoed', () => {
    expect(readConfig(FIELDS, { X_NAME: 'n', X_PORT: '8' }, noFile)).toEqual({ values: { port: 8, level: 'a', token: undefined, name: 'n' }, problems: [] });
    const { problems } = readConfig(FIELDS, { X_PORT: '800', X_LEVEL: 'c', X_TOKEN: 'abc' }, noFile);
    expect(problems).toEqual([
      'X_PORT: expected an integer from 1 to 100 (got "800")',
      'X_LEVEL: expected one of a, b (got "c")',
      'X_TOKEN: expected at least 4 characters (got (hidden))',
      'X_NAME: required — the name',
    ]);
    expect(new ConfigError(problems).message).toContain('invalid configuration:\n  - X_PORT');
  });

  it('documents each setting with its default as --help shows it', () => {
    expect(configReference(FIELDS)).toEqual([
      { env: 'X_PORT', doc: 'port', default: '80' },
      { env: 'X_LEVEL', doc: 'level', default: 'a' },
      { env: 'X_TOKEN', doc: 'token', default: '(none)' },
      { env: 'X_NAME', doc: 'the name', default: '(required)' },
    ]);
  });
});

describe('the error registry base', () => {
  it('takes status and retryability from the registry and answers the documented body', () => {
    const registry = { X_BUSY: { status: 503, retryable: true, doc: 'busy' }, X_BAD: { status: 400, retryable: false, doc: 'bad' } };
    const error = new ServiceError(registry, 'X_BUSY', 'try later', { after: 1 });
    expect([error.code, error.status, error.retryable, error.details]).toEqual(['X_BUSY', 503, true, { after: 1 }]);
    expect(errorBody('X_BAD', 'no', { extra: true })).toEqual({ error: { code: 'X_BAD', message: 'no' }, extra: true });
  });
});
