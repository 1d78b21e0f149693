/**
 * Naming rules for namespaces and keys. A namespace never contains '/' (the Kafka message key
 * is `namespace/key`, split at the first '/'); keys may contain anything printable.
 */
import { MeridianError } from './errors.ts';

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const MAX_KEY_LENGTH = 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkNamespaceName(name: string): void {
  if (!NAMESPACE.test(name)) {
    throw new MeridianError('MERIDIAN_INVALID_NAME', `expected a namespace name of 1-128 letters, digits, '_', '.', '-', starting with a letter or digit (got ${JSON.stringify(name.slice(0, 200))})`);
  }
}

export function checkKeyName(key: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || CONTROL.test(key)) {
    throw new MeridianError('MERIDIAN_INVALID_NAME', `expected a key of 1-${MAX_KEY_LENGTH} characters without control characters (got ${JSON.stringify(key.slice(0, 200))})`);
  }
}
