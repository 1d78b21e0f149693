/**
 * A program's configuration as one typed schema: per setting its env name, doc, default (absent:
 * required), whether it is a secret, and a parser. `readConfig` reads every setting (or its
 * `<NAME>_FILE`, a mounted secret), and collects every problem at once as "NAME: expected X (got
 * Y)" — a secret's value is never echoed; the program adds its cross-field checks and throws a
 * `ConfigError`. `configReference` feeds `--help` and the READMEs' tables.
 */
import { readSetting } from '@meridian/auth';

/** Parses a raw value; throws an Error whose message says what was expected ("an integer from 1 to 9"). */
export type Parser<T> = (raw: string) => T;

export interface Field<C, K extends keyof C = keyof C> {
  readonly key: K;
  readonly env: string;
  readonly doc: string;
  readonly secret?: boolean;
  /** Absent = required. */
  readonly default?: C[K];
  /** How `--help` shows the default when not as it is stored (durations, lists, none). */
  readonly shownDefault?: string;
  readonly parse: Parser<C[K]>;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Every field's value (its default when unset or empty), and every problem. A parser whose
 * message names what it got itself (a list naming its bad entry) is not given the whole value.
 */
export function readConfig<C>(fields: readonly Field<C>[], env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string): { values: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const field of fields) {
    const source = readSetting(env, field.env, readFile);
    if ('problem' in source) {
      problems.push(source.problem);
      continue;
    }
    const raw = source.value;
    const key = field.key as string;
    if (raw === undefined || raw === '') {
      if (!('default' in field)) problems.push(`${field.env}: required — ${field.doc}`);
      else values[key] = field.default;
      continue;
    }
    try {
      values[key] = field.parse(raw);
    } catch (error) {
      const message = (error as Error).message;
      problems.push(`${field.env}: expected ${message}${message.includes('(got ') ? '' : ` (got ${field.secret ? '(hidden)' : JSON.stringify(raw)})`}`);
    }
  }
  return { values, problems };
}

/** The documented settings: env name, doc, and the default as `--help` shows it. */
export function configReference<C>(fields: readonly Field<C>[]): { env: string; doc: string; default: string }[] {
  const shown = (f: Field<C>): string => {
    if (!('default' in f)) return '(required)';
    if (f.shownDefault !== undefined) return f.shownDefault;
    const value: unknown = f.default;
    if (value instanceof Set) return [...(value as Set<unknown>)].join(',');
    return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  };
  return fields.map((f) => ({ env: f.env, doc: f.doc, default: shown(f) }));
}

export const integer = (min: number, max: number): Parser<number> => (raw) => {
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`an integer from ${min} to ${max}`);
  return n;
};

export const oneOf = <T extends string>(values: readonly T[]): Parser<T> => (raw) => {
  if (!(values as readonly string[]).includes(raw)) throw new Error(`one of ${values.join(', ')}`);
  return raw as T;
};
