/**
 * Unique, valid names for per-test databases and topics, so that test files running in parallel
 * (and leftovers of a crashed run) never share state.
 */
import { randomBytes } from 'node:crypto';

/** `<prefix>_<time>_<random>`: lower-case, a valid PostgreSQL identifier and Kafka topic name. */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30) || 't';
  const start = /^[a-z_]/.test(clean) ? clean : `t_${clean}`;
  return `${start}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
