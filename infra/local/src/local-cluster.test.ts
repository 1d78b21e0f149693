/** The plan of a local cluster: fixed default ports, overrides, given servers, and every refusal before anything starts. */
import { describe, expect, it } from 'vitest';
import { planLocalCluster } from './local-cluster.ts';

describe('planLocalCluster', () => {
  it('gives eu, us and ap their documented ports, databases and locations, with the GSLB and Zipkin', () => {
    const plan = planLocalCluster({ gslb: true });
    expect(plan.regions.map((r) => [r.id, r.url, r.database, r.kafka, r.location])).toEqual([
      ['eu', 'http://127.0.0.1:8081', 'meridian_local_eu', { start: true, port: 19092, controllerPort: 19093 }, { lat: 50.11, lon: 8.68 }],
      ['us', 'http://127.0.0.1:8082', 'meridian_local_us', { start: true, port: 29092, controllerPort: 29093 }, { lat: 38.9, lon: -77.0 }],
      ['ap', 'http://127.0.0.1:8083', 'meridian_local_ap', { start: true, port: 39092, controllerPort: 39093 }, { lat: 1.35, lon: 103.8 }],
    ]);
    expect(plan.gslb).toEqual({ port: 8080, url: 'http://127.0.0.1:8080' });
    expect(plan.zipkin).toEqual({ start: true, port: 9411 });
    expect(plan.wanted.map((w) => w.port).sort((x, y) => x - y)).toEqual([8080, 8081, 8082, 8083, 9411, 18081, 18082, 18083, 19092, 19093, 29092, 29093, 39092, 39093]);
    expect(plan.wanted.find((w) => w.port === 29093)).toEqual({ port: 29093, what: 'Kafka controller of us', override: '--port kafka-us-controller=<n>' });
  });

  it('takes port overrides by name, given Kafka and Zipkin, and another database prefix', () => {
    const plan = planLocalCluster({
      gslb: false,
      regions: ['us'],
      ports: { us: 9082, 'grpc-us': 9182, zipkin: 9999 },
      kafka: { us: '127.0.0.1:5555' },
      zipkinUrl: 'http://127.0.0.1:7777/',
      databasePrefix: 'scratch',
    });
    expect(plan.regions).toEqual([{ id: 'us', port: 9082, grpcPort: 9182, url: 'http://127.0.0.1:9082', database: 'scratch_us', location: { lat: 38.9, lon: -77.0 }, kafka: { start: false, bootstrap: '127.0.0.1:5555' } }]);
    expect(plan.gslb).toBeUndefined();
    expect(plan.zipkin).toEqual({ start: false, url: 'http://127.0.0.1:7777' });
    // Nothing given is started, so nothing given is checked.
    expect(plan.wanted.map((w) => w.port)).toEqual([9082, 9182]);
  });

  it('runs a region without a preset when it has its ports (and, for the GSLB, a location)', () => {
    const plan = planLocalCluster({ gslb: true, regions: ['lab-1'], ports: { 'lab-1': 9100, 'grpc-lab-1': 9200 }, kafka: { 'lab-1': '127.0.0.1:9092' }, locations: { 'lab-1': { lat: 1, lon: 2 } } });
    expect(plan.regions[0]).toMatchObject({ id: 'lab-1', port: 9100, grpcPort: 9200, database: 'meridian_local_lab_1', location: { lat: 1, lon: 2 } });
  });

  it('refuses, all at once, what cannot work', () => {
    expect(() => planLocalCluster({ gslb: true, regions: ['eu', 'lab'], ports: { colour: 1, eu: 70000 }, kafka: { ap: '127.0.0.1:1' } })).toThrow(
      [
        'unknown port name "colour" (expected one of gslb, zipkin, eu, grpc-eu, kafka-eu, kafka-eu-controller, lab, grpc-lab, kafka-lab, kafka-lab-controller)',
        'expected port eu to be from 1 to 65535 (got 70000)',
        'Kafka given for ap, which is not one of the regions (eu,lab)',
        'region lab has no default ports: choose lab\'s with --port lab=<n>',
        'region lab has no location for the GSLB: give it one (--location lab=<lat>,<lon>) or run without the GSLB',
        'region lab has no default ports: choose grpc-lab\'s with --port grpc-lab=<n>',
        'region lab has no default ports: choose kafka-lab\'s with --port kafka-lab=<n>',
        'region lab has no default ports: choose kafka-lab-controller\'s with --port kafka-lab-controller=<n>',
      ].join('\n'),
    );
    expect(() => planLocalCluster({ gslb: false, regions: [] })).toThrow('expected at least one region (got none)');
    expect(() => planLocalCluster({ gslb: false, regions: ['eu', 'eu'] })).toThrow('expected each region once (got eu,eu)');
  });
});
