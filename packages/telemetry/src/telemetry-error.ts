/**
 * The one error class of @meridian/telemetry. Telemetry fails only at start-up — a bad
 * configuration, or a second SDK in the same process — and must then stop the service with a
 * message that says what to fix; nothing here is retryable, the same configuration fails the
 * same way every time. Once started, telemetry never throws into the request path.
 */

export const TelemetryErrorCode = {
  /** The configuration does not match its schema. */
  InvalidConfig: 'MERIDIAN_TELEMETRY_INVALID_CONFIG',
  /** startTelemetry was called while another handle is still running in this process. */
  AlreadyStarted: 'MERIDIAN_TELEMETRY_ALREADY_STARTED',
  /** Another OpenTelemetry SDK already owns the process-wide providers. */
  GlobalsTaken: 'MERIDIAN_TELEMETRY_GLOBALS_TAKEN',
} as const;
export type TelemetryErrorCode = (typeof TelemetryErrorCode)[keyof typeof TelemetryErrorCode];

export class TelemetryError extends Error {
  readonly code: TelemetryErrorCode;
  readonly retryable = false;
  constructor(code: TelemetryErrorCode, message: string) {
    super(message);
    this.name = 'TelemetryError';
    this.code = code;
  }
}
