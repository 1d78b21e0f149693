/**
 * @meridian/testkit: what Meridian's tests share — unique names for per-test databases and
 * topics, waits with deadlines, and a TCP fault proxy.
 */
export { uniqueName } from './names.ts';
export { waitFor, sleep, WaitTimeoutError, type WaitOptions } from './wait-for.ts';
export { FaultProxy, type FaultProxyOptions } from './fault-proxy.ts';
