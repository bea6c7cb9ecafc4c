import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startRelay, tempDir } from './harness.js';

// What a default umask gives everything the relay does not restrict itself (findings L11).
const OPEN_UMASK = 0o022;

/** Every path under `root` with its permission bits, e.g. `files/uploads/x.mp4 → 600`. */
function modesUnder(root: string): Map<string, string> {
  const modes = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      modes.set(path.relative(root, full), (fs.statSync(full).mode & 0o777).toString(8));
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(root);
  return modes;
}

function modeOf(target: string): string {
  return (fs.statSync(target).mode & 0o777).toString(8);
}

describe('file modes of the data dir (findings L11)', () => {
  let umask: number;
  const open: Harness[] = [];
  beforeAll(() => {
    umask = process.umask(OPEN_UMASK);
  });
  afterAll(() => {
    process.umask(umask);
  });
  afterEach(async () => {
    for (const h of open.splice(0)) await h.close();
  });

  /** Uploads, runs a job to its archived result, and lists every mode under the data dir. */
  async function useRelay(dataDir: string): Promise<Map<string, string>> {
    const h = await startRelay({ provider: 'evolink', dataDir });
    open.push(h);
    const video = await h.upload('video', 'talking-640x640-25fps-3s.mp4');
    const audio = await h.upload('audio', 'speech-4s.wav');
    const image = await h.upload('image', 'face.png');
    const created = await h.api('POST', '/v1/jobs', {
      body: { video: { uploadId: video }, audio: { uploadId: audio }, refImage: { uploadId: image } },
    });
    expect(created.status).toBe(201);
    const done = await h.waitForJob(created.json.id, (j) => j.status === 'succeeded', 30_000);
    expect(done.result?.archived).toBe(true);
    return modesUnder(dataDir);
  }

  function expectPrivate(dataDir: string, modes: Map<string, string>) {
    expect(modeOf(dataDir)).toBe('700');
    // The store, its journal, the uploads and the archived result all exist by now.
    for (const name of ['relay.db', 'relay.db-wal', 'relay.db-shm']) expect(modes.get(name)).toBe('600');
    const media = [...modes.keys()].filter((p) => /^files\/(uploads|results)\/./.test(p));
    expect(media.filter((p) => p.startsWith('files/uploads/'))).toHaveLength(3);
    expect(media.filter((p) => p.startsWith('files/results/'))).toHaveLength(1);
    const open = [...modes].filter(([, mode]) => mode !== '600' && mode !== '700');
    expect(open).toEqual([]);
  }

  it('keeps a new data dir, its store (with -wal/-shm) and every stored file owner-only under umask 022', async () => {
    const dataDir = path.join(tempDir(), 'data');
    expectPrivate(dataDir, await useRelay(dataDir));
  });

  it('tightens the data dir and store an older relay left world-readable', async () => {
    const dataDir = tempDir();
    fs.chmodSync(dataDir, 0o755);
    fs.mkdirSync(path.join(dataDir, 'files', 'uploads'), { recursive: true });
    const db = new Database(path.join(dataDir, 'relay.db'));
    db.pragma('journal_mode = WAL');
    db.close();
    expect(modeOf(path.join(dataDir, 'relay.db'))).toBe('644');
    expect(modeOf(path.join(dataDir, 'files', 'uploads'))).toBe('755');
    expectPrivate(dataDir, await useRelay(dataDir));
  });
});
