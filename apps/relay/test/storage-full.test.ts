import type { Readable } from 'node:stream';
import { RelayErrorBodySchema, RelayErrorCodeSchema } from '@retalk/core/relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay } from './harness.js';

// The real full disk (a tiny tmpfs) is in test/reliability/storage-faults.spec.ts; here the
// storage reports the filesystem's error codes so the answer itself is checked quickly.
describe('an upload when the data directory is full', () => {
  let h: Harness;
  let failWith: string | undefined;
  beforeAll(async () => {
    h = await startRelay({ provider: 'evolink' });
    const storage = h.relay.context.storage;
    const realWrite = storage.write.bind(storage);
    storage.write = async (key, source, options) => {
      if (!failWith) return realWrite(key, source, options);
      (source as Readable).resume();
      throw Object.assign(new Error(`${failWith}: no space left on device, write`), { code: failWith });
    };
  });
  afterAll(async () => {
    await h.close();
  });

  it.each(['ENOSPC', 'EDQUOT'])(
    'answers 507 with the stable code storage_full and says what to do (%s)',
    async (code) => {
      failWith = code;
      const res = await h.api('PUT', '/v1/uploads?kind=video&filename=a.mp4', {
        rawBody: new Uint8Array(64 * 1024),
        headers: { 'content-type': 'video/mp4' },
      });
      failWith = undefined;
      expect(res.status).toBe(507);
      expect(RelayErrorBodySchema.safeParse(res.json).success).toBe(true);
      expect(res.json.error.code).toBe('storage_full');
      expect(res.json.error.message).toMatch(/out of disk space/);
      expect(res.json.error.message).toMatch(/free space in the relay's data directory \(RETALK_DATA_DIR\)/);
      expect(res.json.error.message).not.toContain(h.dataDir);
    },
  );

  it('is one of the relay error codes of the HTTP contract', () => {
    expect(RelayErrorCodeSchema.options).toContain('storage_full');
  });

  it('accepts uploads again once there is space', async () => {
    expect(await h.upload('video', 'talking-640x640-25fps-3s.mp4')).toMatch(/^upl_/);
  });
});
