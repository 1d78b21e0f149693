/**
 * Liveness and readiness. Readiness is local on purpose (DESIGN §7): this region's PostgreSQL,
 * its own Kafka, its relay and replicators — never a peer, so a dead peer does not make every
 * surviving region unready. Each check has a deadline; the answer lists every check with its
 * reason.
 */

export interface HealthCheck {
  readonly name: string;
  /** Resolves when healthy; rejects (or times out) with the reason otherwise. */
  check(): Promise<void>;
}

export interface HealthReport {
  readonly status: 'ok' | 'unavailable';
  readonly checks: Record<string, { readonly ok: boolean; readonly reason?: string; readonly ms: number }>;
}

export async function runChecks(checks: readonly HealthCheck[], timeoutMs = 2000): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (c) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          c.check(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return [c.name, { ok: true, ms: Math.round(performance.now() - started) }] as const;
      } catch (error) {
        return [c.name, { ok: false, reason: (error as Error).message, ms: Math.round(performance.now() - started) }] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const checksById: Record<string, HealthReport['checks'][string]> = {};
  for (const [name, result] of results) checksById[name] = result;
  return { status: results.every(([, r]) => r.ok) ? 'ok' : 'unavailable', checks: checksById };
}
