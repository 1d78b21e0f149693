/**
 * Session tokens as the region service reads them: @meridian/protocol's codec (the one the GSLB
 * reads too), its refusal answered as MERIDIAN_INVALID_SESSION (400).
 */
import { parseSession as parseSessionToken, SessionTokenError, type SessionVector } from '@meridian/protocol';
import { MeridianError } from './errors.ts';

export { formatSession, mergeSessions, type SessionVector } from '@meridian/protocol';

export function parseSession(token: string): SessionVector {
  try {
    return parseSessionToken(token);
  } catch (error) {
    if (error instanceof SessionTokenError) throw new MeridianError('MERIDIAN_INVALID_SESSION', error.message);
    throw error;
  }
}
