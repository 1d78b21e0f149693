/**
 * Every error the API can meet answers in Meridian's envelope with a registry code: fastify's own
 * errors (each FST_ERR_* it defines: a client's 4xx stays a 4xx with a Meridian code, a 5xx is
 * MERIDIAN_INTERNAL), and the store's classified errors (an unknown outcome is never "nothing was
 * written").
 */
import { describe, expect, it } from 'vitest';
import { errorCodes } from 'fastify';
import { StoreError, StoreErrorCode } from '@meridian/store';
import { toErrorAnswer } from './app.ts';
import { ERRORS } from './errors.ts';

describe('toErrorAnswer', () => {
  it.each(Object.keys(errorCodes))('%s answers with a Meridian code of the same class', (name) => {
    const FastifyError = errorCodes[name as keyof typeof errorCodes] as unknown as new (...args: string[]) => Error & { statusCode?: number; code: string };
    const error = new FastifyError('a', 'b', 'c');
    const answer = toErrorAnswer(error);
    expect(answer.body).toEqual({ error: { code: answer.code, message: expect.any(String) as string } });
    expect(answer.status).toBe(ERRORS[answer.code].status);
    const status = error.statusCode ?? 500;
    if (status < 500) expect(Math.floor(answer.status / 100), `${name} (${status}) answered ${answer.code}`).toBe(Math.floor(status / 100));
    else expect(answer.code).toBe('MERIDIAN_INTERNAL');
  });

  it('maps the store: unavailable and retry wrote nothing; an unknown outcome says to retry with the same Idempotency-Key', () => {
    expect(toErrorAnswer(new StoreError(StoreErrorCode.unavailable, 'down')).code).toBe('MERIDIAN_STORE_UNAVAILABLE');
    expect(toErrorAnswer(new StoreError(StoreErrorCode.retry, 'conflict')).code).toBe('MERIDIAN_BUSY');
    const unknown = toErrorAnswer(new StoreError(StoreErrorCode.outcomeUnknown, 'lost'));
    expect(unknown).toMatchObject({ status: 503, code: 'MERIDIAN_OUTCOME_UNKNOWN' });
    const message = (unknown.body['error'] as { message: string }).message;
    expect(message).toMatch(/same Idempotency-Key/);
    expect(message).not.toMatch(/nothing was written/);
    expect(toErrorAnswer(new StoreError(StoreErrorCode.failed, 'bug')).code).toBe('MERIDIAN_INTERNAL');
  });
});
