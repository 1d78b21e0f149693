/**
 * Three test projects:
 * - unit: pure logic beside the code (`*.test.ts`), no I/O, fast;
 * - integration: `*.pg.test.ts`, `*.kafka.test.ts`, `*.infra.test.ts` beside the code, against the
 *   real PostgreSQL, Kafka brokers and Zipkin that the global setup starts once per run;
 * - scenarios: cross-service scenarios in `test/`, real processes, one file at a time (they start
 *   whole regions and would exhaust PostgreSQL's connections if run together; some bound how fast
 *   a failure is seen). `npm test` runs them after the others, in a vitest of their own with
 *   `--maxWorkers=1`: the worker count is not a per-project setting.
 */
import { defineConfig } from 'vitest/config';

const INTEGRATION = ['**/*.pg.test.ts', '**/*.kafka.test.ts', '**/*.infra.test.ts'];
const SOURCES = ['packages/*/src/**', 'services/*/src/**', 'infra/*/src/**', 'services/*/bench'];
const EXCLUDE = ['**/node_modules/**', '**/dist/**'];

export default defineConfig({
  resolve: { conditions: ['meridian-source'] },
  ssr: { resolve: { conditions: ['meridian-source'] } },
  test: {
    // Two files at a time, whatever the core count (vitest's default on two cores is one): the
    // unit and integration files mostly wait on PostgreSQL, Kafka and child processes. Scenarios
    // run with --maxWorkers=1 (package.json).
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: SOURCES.map((s) => `${s}/*.test.ts`),
          exclude: [...EXCLUDE, ...INTEGRATION],
          // A guard against hangs, not a budget: property tests of thousands of runs take 3-6 s
          // when another file shares the machine (no timing is asserted by a timeout).
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: SOURCES.flatMap((s) => INTEGRATION.map((i) => `${s}/${i.replace('**/', '')}`)),
          exclude: EXCLUDE,
          globalSetup: ['infra/local/src/vitest-global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'scenarios',
          include: ['test/**/*.test.ts'],
          exclude: EXCLUDE,
          globalSetup: ['infra/local/src/vitest-global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
