/**
 * Test support: runs `fn` and returns the ProtocolError it throws, failing the test if it throws
 * nothing or something else (a stray TypeError from bad input is a bug this package must not have).
 */
import { ProtocolError } from './protocol-error.ts';

export function caughtProtocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw new Error(`expected a ProtocolError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}
