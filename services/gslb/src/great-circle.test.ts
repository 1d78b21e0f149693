import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EARTH_RADIUS_KM, distanceKm, parseGeoPoint } from './great-circle.ts';

const point = fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) });

describe('great-circle distance', () => {
  it('matches known distances', () => {
    // One degree along a meridian is 2πR/360.
    expect(distanceKm({ lat: 0, lon: 0 }, { lat: 1, lon: 0 })).toBeCloseTo((2 * Math.PI * EARTH_RADIUS_KM) / 360, 6);
    // Antipodes: half the circumference, not NaN (asin's argument is clamped).
    expect(distanceKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(Math.PI * EARTH_RADIUS_KM, 6);
    expect(distanceKm({ lat: 90, lon: 0 }, { lat: -90, lon: 0 })).toBeCloseTo(Math.PI * EARTH_RADIUS_KM, 6);
    // London Heathrow – New York JFK: published great-circle distance about 5,540 km.
    expect(distanceKm({ lat: 51.47, lon: -0.4543 }, { lat: 40.6413, lon: -73.7781 })).toBeGreaterThan(5520);
    expect(distanceKm({ lat: 51.47, lon: -0.4543 }, { lat: 40.6413, lon: -73.7781 })).toBeLessThan(5560);
    // Crossing the antimeridian takes the short way round.
    expect(distanceKm({ lat: 0, lon: 179 }, { lat: 0, lon: -179 })).toBeCloseTo(2 * ((2 * Math.PI * EARTH_RADIUS_KM) / 360), 6);
  });

  it('is symmetric, non-negative, 0 to itself and at most half the circumference', () => {
    fc.assert(
      fc.property(point, point, (a, b) => {
        const d = distanceKm(a, b);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(Math.PI * EARTH_RADIUS_KM + 1e-6);
        expect(distanceKm(b, a)).toBeCloseTo(d, 6);
        expect(distanceKm(a, a)).toBe(0);
      }),
    );
  });
});

describe('parseGeoPoint', () => {
  it('reads lat,lon in decimal degrees, with spaces and signs', () => {
    expect(parseGeoPoint('50.1,8.7')).toEqual({ lat: 50.1, lon: 8.7 });
    expect(parseGeoPoint(' -33.9 , +151.2 ')).toEqual({ lat: -33.9, lon: 151.2 });
    expect(parseGeoPoint('90,-180')).toEqual({ lat: 90, lon: -180 });
    expect(Object.is(parseGeoPoint('-0,0')?.lat, 0)).toBe(true);
  });

  it.each(['', '50.1', '50.1,8.7,1', '91,0', '0,180.5', 'a,b', '1e2,3', '0x10,1', 'NaN,1', 'Infinity,0', ',', '50.1;8.7'])('refuses %j', (text) => {
    expect(parseGeoPoint(text)).toBeUndefined();
  });
});
