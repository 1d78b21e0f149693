/**
 * PostgreSQL over TLS with sslmode=verify-full: a private server started with ssl=on and a
 * certificate of a test CA for 127.0.0.1 and localhost. A region given the CA
 * (MERIDIAN_DATABASE_CA, or sslrootcert in DATABASE_URL) connects encrypted and works; one that
 * trusts another CA, or reaches the server by a name its certificate does not carry, refuses to
 * start. The CA's file path is shown in the described configuration, the password never.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCertificate, ensureCertificateAuthority, LOCAL_HOST_NAMES, startPrivatePostgres, testCertificateAuthority, type PrivatePostgres } from '@meridian/infra-local';
import { describeConfig, loadConfig } from './config.ts';
import { startRegion } from './region.ts';

const ca = testCertificateAuthority();
let server: PrivatePostgres;

beforeAll(async () => {
  const cert = ensureCertificate(ca, 'postgres-server', { commonName: 'postgres', ...LOCAL_HOST_NAMES });
  // Also on 127.0.0.2, an address its certificate does not name.
  server = await startPrivatePostgres({ tls: cert, settings: { listen_addresses: "'127.0.0.1,127.0.0.2'" } });
}, 60_000);

afterAll(async () => {
  await server?.destroy();
});

const env = (databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  MERIDIAN_REGION: 'eu', DATABASE_URL: databaseUrl, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '2', ...extra,
});

describe('PostgreSQL over TLS (sslmode=verify-full)', () => {
  it('connects encrypted with MERIDIAN_DATABASE_CA, serves writes and reads, and shows the CA file but no password', async () => {
    const config = loadConfig(env(server.url.replace('postgres@', 'postgres:pw-never-shown@'), { MERIDIAN_DATABASE_CA: ca.caFile }));
    expect(new URL(config.databaseUrl).searchParams.get('sslmode')).toBe('verify-full');
    const shown = JSON.stringify(describeConfig(config));
    expect(shown).not.toContain('pw-never-shown');
    expect(shown).toContain('sslmode=verify-full');
    const region = await startRegion(config);
    try {
      const ssl = await region.store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(ssl.rows[0]!.ssl).toBe(true);
      expect((await region.app.inject({ method: 'PUT', url: '/v1/namespaces/tls', payload: { policy: 'lww' } })).statusCode).toBe(201);
      expect((await region.app.inject({ method: 'PUT', url: '/v1/ns/tls/keys/k', payload: { value: 1 } })).statusCode).toBe(200);
      expect((await region.app.inject({ method: 'GET', url: '/v1/ns/tls/keys/k' })).json()).toMatchObject({ value: 1 });
    } finally {
      await region.close();
    }
  });

  it('takes sslmode and sslrootcert from DATABASE_URL itself', async () => {
    const region = await startRegion(loadConfig(env(`${server.url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca.caFile)}`)));
    try {
      expect((await region.store.pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl).toBe(true);
    } finally {
      await region.close();
    }
  });

  it('refuses a server whose certificate another CA signed, or that does not name the host dialled', async () => {
    const other = ensureCertificateAuthority(mkdtempSync(join(tmpdir(), 'meridian-other-ca-')));
    await expect(startRegion(loadConfig(env(server.url, { MERIDIAN_DATABASE_CA: other.caFile })))).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    await expect(startRegion(loadConfig(env(server.url.replace('@127.0.0.1', '@127.0.0.2'), { MERIDIAN_DATABASE_CA: ca.caFile })))).rejects.toThrow(/IP: 127\.0\.0\.2 is not in the cert's list/);
  });
});
