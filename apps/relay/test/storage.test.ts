import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLocalStorage, TooLargeError } from '../src/storage/local.js';
import { tempDir } from './harness.js';

function chunked(bytes: Buffer, size: number): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    })(),
  );
}

describe('local storage', () => {
  it('writes a multi-megabyte stream byte for byte, with its sha256, through overlapping writes', async () => {
    const storage = createLocalStorage(tempDir());
    const bytes = randomBytes(5 * 1024 * 1024 + 12_345);
    const stored = await storage.write('uploads/upl_test', chunked(bytes, 65_536), { durable: false });
    expect(stored.sizeBytes).toBe(bytes.length);
    expect(stored.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(fs.readFileSync(storage.pathOf('uploads/upl_test')).equals(bytes)).toBe(true);
  });

  it('stops a body over the limit and leaves nothing behind, not even a temp file', async () => {
    const root = tempDir();
    const storage = createLocalStorage(root);
    await expect(
      storage.write('uploads/upl_big', chunked(randomBytes(3 * 1024 * 1024), 65_536), {
        maxBytes: 1024 * 1024,
      }),
    ).rejects.toBeInstanceOf(TooLargeError);
    expect(fs.existsSync(storage.pathOf('uploads/upl_big'))).toBe(false);
    expect(fs.readdirSync(path.join(root, '.tmp'))).toEqual([]);
  });

  it('never exposes a file under its key before it is complete, and sweeps leftovers of a crash at start', async () => {
    const root = tempDir();
    const storage = createLocalStorage(root);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = Readable.from(
      (async function* () {
        yield Buffer.alloc(1024, 1);
        await gate;
        yield Buffer.alloc(1024, 2);
      })(),
    );
    const writing = storage.write('results/job_x.mp4', slow);
    // The write has begun (its temp file exists) and the rest is held back: nothing under the key yet.
    await expect.poll(() => fs.readdirSync(path.join(root, '.tmp')).length).toBe(1);
    expect(await storage.size('results/job_x.mp4')).toBeUndefined();
    release();
    await writing;
    expect(await storage.size('results/job_x.mp4')).toBe(2048);

    fs.writeFileSync(path.join(root, '.tmp', 'crashed.part'), 'half');
    createLocalStorage(root);
    expect(fs.readdirSync(path.join(root, '.tmp'))).toEqual([]);
  });

  it('refuses keys that could leave its directory', () => {
    const storage = createLocalStorage(tempDir());
    for (const key of ['../etc/passwd', 'uploads/../../x', '/abs', 'results/a/b']) {
      expect(() => storage.pathOf(key)).toThrow(/invalid storage key/);
    }
  });
});
