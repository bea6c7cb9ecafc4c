import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The relay suite's store-facing files again, on PostgreSQL (RETALK_TEST_STORE=postgres: a
// throwaway database per data dir, see test/pg.ts). The rest of the suite does not touch the
// store in ways that differ, and running all of it twice would double CI time.
export default defineConfig({
  test: {
    ...base.test,
    include: [
      'test/lifecycle.test.ts',
      'test/budget.test.ts',
      'test/bad-requests.test.ts',
      'test/events.test.ts',
      'test/event-streams.test.ts',
      'test/restart.test.ts',
      'test/connect-links.test.ts',
      'test/callbacks.test.ts',
      'test/watchers.test.ts',
      'test/fair-queue.test.ts',
      'test/archive.test.ts',
      'test/upstream-pool.test.ts',
      'test/mixed-pool.test.ts',
    ],
    env: { ...base.test?.env, RETALK_TEST_STORE: 'postgres' },
    outputFile: { json: 'test-results/postgres-vitest.json' },
  },
});
