/**
 * The local cluster listens on fixed, documented ports. Before starting anything it checks them
 * all, so that a taken port is one clear message naming the port, what wanted it and how to
 * choose another — not a broker's stack trace a minute into the start.
 */
import { createServer } from 'node:net';

export interface WantedPort {
  readonly port: number;
  /** What listens there, e.g. "region eu". */
  readonly what: string;
  /** How to choose another, e.g. "--port eu=<n>". */
  readonly override: string;
}

function isFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Throws one error listing every taken port (and duplicates within `wanted`). */
export async function assertPortsFree(wanted: readonly WantedPort[], host = '127.0.0.1'): Promise<void> {
  const problems: string[] = [];
  const seen = new Map<number, string>();
  for (const w of wanted) {
    const other = seen.get(w.port);
    if (other !== undefined) problems.push(`port ${w.port} is wanted by both ${other} and ${w.what} — choose another with ${w.override}`);
    seen.set(w.port, w.what);
  }
  const distinct = [...new Map(wanted.map((w) => [w.port, w])).values()];
  const taken = await Promise.all(distinct.map(async (w) => ((await isFree(w.port, host)) ? undefined : w)));
  for (const w of taken) {
    if (w) problems.push(`port ${w.port} (${w.what}) is in use — stop what holds it, or choose another with ${w.override}`);
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
}
