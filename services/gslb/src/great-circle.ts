/**
 * Points on the Earth and the great-circle distance between them (haversine on a sphere of the
 * mean Earth radius). The GSLB only ranks regions by distance, so the sphere's error (< 0.5 %
 * against the WGS-84 ellipsoid) never matters; what matters is that the arithmetic is the same
 * in every GSLB instance, so equal inputs rank equally (no locale, no clock, no randomness).
 *
 * Invariants: latitude in [-90, 90], longitude in [-180, 180] (checked by `parseGeoPoint`, the
 * only way text becomes a point); distances are symmetric and 0 from a point to itself.
 */

export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
}

/** Mean Earth radius (IUGG), kilometres. */
export const EARTH_RADIUS_KM = 6371.0088;

const radians = (degrees: number): number => (degrees * Math.PI) / 180;

/** Great-circle distance in kilometres (haversine). */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const dLat = radians(b.lat - a.lat);
  const dLon = radians(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(radians(a.lat)) * Math.cos(radians(b.lat)) * Math.sin(dLon / 2) ** 2;
  // min(1, …): rounding can push h a hair above 1 for antipodal points, and asin(>1) is NaN.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * Parses `"lat,lon"` in decimal degrees (e.g. `"50.1,8.7"`); returns undefined when the text is
 * not two decimals in range. Callers turn undefined into their own error ("expected lat,lon").
 */
export function parseGeoPoint(text: string): GeoPoint | undefined {
  const parts = text.split(',');
  if (parts.length !== 2) return undefined;
  const [latText = '', lonText = ''] = parts.map((p) => p.trim());
  if (!DECIMAL.test(latText) || !DECIMAL.test(lonText)) return undefined;
  const lat = Number(latText);
  const lon = Number(lonText);
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return undefined;
  // +0 for -0, so that equal points print and compare the same everywhere.
  return { lat: lat + 0, lon: lon + 0 };
}

export const GEO_POINT_FORMAT = 'lat,lon in decimal degrees (latitude -90..90, longitude -180..180)';
