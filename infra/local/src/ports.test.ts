import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ephemeralLow, freePort } from './ports.ts';

describe('freePort', () => {
  it('picks distinct ports below the ephemeral range, where outgoing connections never take them', async () => {
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThan(1024);
      expect(port).toBeLessThan(ephemeralLow());
    }
  });
  it('reads the ephemeral range from the kernel, and falls back to the IANA range', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ports-'));
    writeFileSync(join(dir, 'range'), '40000\t60999\n');
    expect(ephemeralLow(join(dir, 'range'))).toBe(40000);
    expect(ephemeralLow(join(dir, 'missing'))).toBe(49152);
  });
});
