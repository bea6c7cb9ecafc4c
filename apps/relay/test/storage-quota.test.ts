import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, type Harness, startRelay } from './harness.js';

const MP4 = 'talking-640x640-25fps-3s.mp4';
const MP4_BYTES = fs.statSync(path.join(FIXTURES, MP4)).size;

describe('per-member storage quota (findings M4)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({
      provider: 'evolink',
      env: { RETALK_MEMBER_STORAGE_MB: '1', RETALK_MAX_UPLOAD_MB: '1' },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('shows the quota in /v1/me and refuses an upload past it before storing its body', async () => {
    const fits = Math.floor((1024 * 1024) / MP4_BYTES);
    for (let i = 0; i < fits; i++) await h.upload('video', MP4);
    const me = await h.api('GET', '/v1/me');
    expect(me.json.storage).toEqual({
      usedBytes: fits * MP4_BYTES,
      limitBytes: 1024 * 1024,
      uploads: fits,
      maxUploads: 1000,
    });

    const bytes = fs.readFileSync(path.join(FIXTURES, MP4));
    const declared = await h.api('PUT', `/v1/uploads?kind=video&filename=${MP4}`, {
      rawBody: bytes,
      headers: { 'content-type': 'video/mp4' },
    });
    expect(declared.status).toBe(413);
    expect(declared.json.error.code).toBe('storage_quota_exceeded');
    // What is full, and what the member can do about it.
    expect(declared.json.error.message).toMatch(
      /^This 0\.\d MB file does not fit in the 0\.\d MB left of your 1 MB of storage\. Uploads are removed 48 h after they are made \(your oldest goes at \d{4}-\d\d-\d\dT[\d:.]+Z\): upload it again after that, upload only the part of the video you need \(a shorter clip\), or ask your relay admin for more storage\.$/,
    );

    // Without a Content-Length the body is cut off where the quota ends.
    const chunked = await fetch(`${h.url}/v1/uploads?kind=video&filename=${MP4}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'video/mp4' },
      body: new Blob([bytes]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const cut = ((await chunked.json()) as { error: { code: string; message: string } }).error;
    expect(cut.code).toBe('storage_quota_exceeded');
    expect(cut.message).toMatch(
      /^This file is larger than the 0\.\d MB left of your 1 MB of storage, so it was not kept\. Uploads are removed 48 h/,
    );

    expect((await h.api('GET', '/v1/me')).json.storage.uploads).toBe(fits);
    expect(fs.readdirSync(path.join(h.dataDir, 'files', 'uploads'))).toHaveLength(fits);
  });

  it("does not count one member's uploads against another's", async () => {
    const bob = await h.addMember('bob');
    expect(await h.upload('video', MP4, bob)).toMatch(/^upl_/);
  });
});
