/** The service README documents exactly the error registry and the settings the code has. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRORS } from './errors.ts';
import { configReference } from './config.ts';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

describe('README', () => {
  it('lists every error code with its status, and no other', () => {
    const documented = new Map([...readme.matchAll(/^\| `(MERIDIAN_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.status])));
  });

  it('lists every setting', () => {
    for (const setting of configReference()) expect(readme).toContain(`| \`${setting.env}\` |`);
  });
});
