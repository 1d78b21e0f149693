/** The command line: every command and flag parses to its typed form; every mistake is a UsageError naming the flag. */
import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from './cli-args.ts';

const DIR = '/repo/.meridian';
const parse = (...argv: string[]) => parseCommand(argv, DIR, '/home/me');

describe('parseCommand', () => {
  it('reads `up` with its defaults', () => {
    expect(parse('up')).toEqual({
      kind: 'up', dir: DIR, detach: false, supervised: false, fresh: false, regions: undefined, gslb: undefined,
      ports: {}, kafka: {}, zipkinUrl: undefined, locations: {}, databasePrefix: undefined, auth: 'on', tls: 'on',
    });
  });

  it('reads every flag of `up`', () => {
    const command = parse(
      'up', '--detach', '--fresh', '--regions', 'eu, us', '--no-gslb', '--port', 'eu=9081', '--port', 'kafka-us=29192',
      '--kafka', 'eu=127.0.0.1:9092,127.0.0.1:9093', '--zipkin', 'http://127.0.0.1:9411/', '--location', 'us=38.9,-77', '--database-prefix', 'mine', '--dir', 'cluster', '--no-auth', '--no-tls',
    );
    expect(command).toEqual({
      kind: 'up', dir: '/home/me/cluster', detach: true, supervised: false, fresh: true, regions: ['eu', 'us'], gslb: false,
      ports: { eu: 9081, 'kafka-us': 29192 }, kafka: { eu: '127.0.0.1:9092,127.0.0.1:9093' }, zipkinUrl: 'http://127.0.0.1:9411',
      locations: { us: { lat: 38.9, lon: -77 } }, databasePrefix: 'mine', auth: 'off', tls: 'off',
    });
  });

  it.each([
    [['up', '--port', 'eu=0'], /--port: expected a port from 1 to 65535 in NAME=PORT \(got "eu=0"\)/],
    [['up', '--port', '8081'], /--port: expected NAME=PORT \(got "8081"\)/],
    [['up', '--kafka', 'eu=localhost'], /--kafka: expected host:port/],
    [['up', '--location', 'eu=91,0'], /--location: expected lat,lon in degrees/],
    [['up', '--zipkin', 'ftp://x'], /--zipkin: expected an http\(s\) URL/],
    [['up', '--regions', 'EU'], /--regions: expected region ids/],
    [['up', '--regions', 'eu,eu'], /--regions: expected each region once/],
    [['up', '--database-prefix', 'Bad-Name'], /--database-prefix/],
    [['up', '--detach', '--supervised'], /exclude each other/],
    [['up', '--colour'], /meridian up: Unknown option '--colour'/],
    [['up', 'now'], /meridian up: Unexpected argument 'now'/],
    [['status', '--region', 'eu'], /meridian status: Unknown option '--region'/],
    [['conflicts', '--limit', '0'], /--limit: expected an integer from 1 to 500 \(got "0"\)/],
    [['conflicts', '--key', 'k'], /--key: expected --ns as well/],
    [['conflicts', '--region', 'Europe'], /--region: expected a region id/],
    [['start'], /unknown command "start"/],
    [['token'], /meridian token: expected one role, admin, writer, reader or metrics \(got ""\)/],
    [['token', 'root'], /expected one role/],
    [['token', 'writer', '--ns', ','], /--ns: expected namespace names or prefixes/],
    [['token', 'reader', '--days', '0'], /--days: expected an integer from 1 to 3650/],
  ])('refuses %j', (argv, message) => {
    expect(() => parse(...argv)).toThrow(UsageError);
    expect(() => parse(...argv)).toThrow(message);
  });

  it('reads down, status, lag and conflicts', () => {
    expect(parse('down', '--dir', '/x')).toEqual({ kind: 'down', dir: '/x' });
    expect(parse('status', '--json')).toEqual({ kind: 'status', dir: DIR, json: true });
    expect(parse('lag')).toEqual({ kind: 'lag', dir: DIR, json: false });
    expect(parse('conflicts')).toEqual({ kind: 'conflicts', dir: DIR, region: undefined, follow: false, ns: undefined, key: undefined, limit: 20, json: false, intervalMs: 1000 });
    expect(parse('conflicts', '--region', 'ap', '-f', '--ns', 'demo', '--key', 'greeting', '--limit', '5', '--interval', '250')).toMatchObject({ region: 'ap', follow: true, ns: 'demo', key: 'greeting', limit: 5, intervalMs: 250 });
  });

  it('reads token: a role, optional namespaces and lifetime', () => {
    expect(parse('token', 'writer')).toEqual({ kind: 'token', dir: DIR, role: 'writer', namespaces: undefined, days: 30 });
    expect(parse('token', 'reader', '--ns', 'orders, cart-*', '--days', '7', '--dir', 'c')).toEqual({ kind: 'token', dir: '/home/me/c', role: 'reader', namespaces: ['orders', 'cart-*'], days: 7 });
  });

  it('answers help for nothing, help, --help and -h', () => {
    for (const argv of [[], ['help'], ['--help'], ['-h']]) expect(parse(...argv)).toEqual({ kind: 'help' });
  });

  it('reads verify and repair, and refuses what cannot be compared', () => {
    expect(parse('verify')).toMatchObject({ kind: 'verify', regions: undefined, grpc: {}, json: false, rate: 1000, confirmMs: 2000 });
    expect(parse('repair', '--regions', 'eu,us', '--grpc', 'eu=10.0.0.1:9000', '--rate', '50', '--json')).toMatchObject({ kind: 'repair', regions: ['eu', 'us'], grpc: { eu: '10.0.0.1:9000' }, json: true, rate: 50 });
    expect(() => parse('verify', '--regions', 'eu')).toThrow('--regions: expected at least two regions');
    expect(() => parse('verify', '--grpc', 'eu=nowhere')).toThrow('--grpc: expected host:port');
    expect(parse('verify', '--tls-ca', '/pki/ca.pem', '--tls-cert', '/pki/op.pem', '--tls-key', '/pki/op-key.pem')).toMatchObject({ tls: { ca: '/pki/ca.pem', cert: '/pki/op.pem', key: '/pki/op-key.pem' } });
    expect(() => parse('verify', '--tls-ca', '/pki/ca.pem')).toThrow('--tls-ca, --tls-cert, --tls-key: expected all three or none');
    expect(() => parse('repair', '--rate', '0')).toThrow('--rate: expected an integer from 1');
  });

  it('reads join and remove: one region id, ports for join, --force for remove', () => {
    expect(parse('join', 'sa')).toEqual({ kind: 'join', dir: DIR, region: 'sa', ports: {}, fresh: false });
    expect(parse('join', 'sa', '--port', 'sa=8084', '--port', 'kafka-sa=49092')).toEqual({ kind: 'join', dir: DIR, region: 'sa', ports: { sa: 8084, 'kafka-sa': 49092 }, fresh: false });
    expect(parse('join', 'sa', '--fresh')).toEqual({ kind: 'join', dir: DIR, region: 'sa', ports: {}, fresh: true });
    expect(() => parse('remove', 'sa', '--fresh')).toThrow('--fresh is for join');
    expect(parse('remove', 'sa')).toEqual({ kind: 'remove', dir: DIR, region: 'sa', force: false });
    expect(parse('remove', 'sa', '--force')).toEqual({ kind: 'remove', dir: DIR, region: 'sa', force: true });
    expect(() => parse('join')).toThrow('meridian join: expected one region id');
    expect(() => parse('join', 'SA')).toThrow('expected one region id');
    expect(() => parse('join', 'sa', '--port', 'eu=8081')).toThrow('--port: unknown port name "eu"');
    expect(() => parse('join', 'sa', '--force')).toThrow('--force is for remove');
    expect(() => parse('remove', 'sa', 'us')).toThrow('meridian remove: expected one region id');
  });
});
