import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/store/postgres.js';
import type { ClusterStore, RelayStore } from '../src/store/types.js';
import { createTestDatabase, dropTestDatabases } from './pg.js';

afterAll(dropTestDatabases);

async function until(what: string, ready: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('upstream health shared through the PostgreSQL store (several instances)', () => {
  it('stores a record and notifies every listener; of two claims on one record exactly one wins, and a lost claim notifies no one', async () => {
    const connectionString = await createTestDatabase();
    const a: RelayStore = await createPostgresStore({ connectionString });
    const b: RelayStore = await createPostgresStore({ connectionString });
    const heard: string[] = [];
    const stop = await (b.cluster as ClusterStore).listen({
      onEvent: () => undefined,
      onUpstreamHealth: (name) => heard.push(name),
      onGap: () => undefined,
    });
    try {
      const ca = a.cluster as ClusterStore;
      const cb = b.cluster as ClusterStore;
      const first = JSON.stringify({ health: 'unhealthy', probeAt: 1, writer: 'a' });
      expect(await ca.shareUpstreamHealth('primary', first)).toBe(true);
      await until('the notice of the first record', () => heard.length === 1);
      expect(heard).toEqual(['primary']);
      expect(await b.getMeta('upstream_health:primary')).toBe(first);

      // Both instances found the probe due on the same record and claim it at once.
      const claims = await Promise.all([
        ca.shareUpstreamHealth(
          'primary',
          JSON.stringify({ health: 'unhealthy', probeAt: 2, writer: 'a' }),
          first,
        ),
        cb.shareUpstreamHealth(
          'primary',
          JSON.stringify({ health: 'unhealthy', probeAt: 2, writer: 'b' }),
          first,
        ),
      ]);
      expect(claims.filter(Boolean)).toEqual([true]);
      const winner = claims[0] ? 'a' : 'b';
      expect(JSON.parse((await a.getMeta('upstream_health:primary')) as string).writer).toBe(winner);

      // A claim on a record that has moved on writes nothing and says nothing.
      expect(await ca.shareUpstreamHealth('primary', '{"health":"healthy"}', first)).toBe(false);
      expect(await ca.shareUpstreamHealth('backup', JSON.stringify({ health: 'healthy' }))).toBe(true);
      await until('the notice of the backup record', () => heard.includes('backup'));
      // In commit order: the first record, the winning claim, the backup; nothing for the lost ones.
      expect(heard).toEqual(['primary', 'primary', 'backup']);
    } finally {
      await stop();
      await a.close();
      await b.close();
    }
  });
});
