import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createClient } from '../src/client.js';
import { contentTypeFor, createKeepAliveFetch, uploadFilePath } from '../src/node/index.js';

describe('createKeepAliveFetch', () => {
  it('reuses pooled connections for consecutive polls instead of opening one per request', async () => {
    let connections = 0;
    const server = createServer((_, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ output: { task_id: 't1', task_status: 'RUNNING' } }));
    });
    server.on('connection', () => {
      connections++;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { fetch, close } = createKeepAliveFetch();
    try {
      const port = (server.address() as AddressInfo).port;
      const client = createClient({
        provider: 'dashscope',
        apiKey: 'k',
        baseUrl: `http://127.0.0.1:${port}/api/v1`,
        fetch,
      });
      for (let i = 0; i < 10; i++) expect((await client.get('t1')).status).toBe('running');
      expect(connections).toBeLessThanOrEqual(2);
    } finally {
      await close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('uploadFilePath', () => {
  it('refuses a path that is missing or not a file, naming it', async () => {
    const client = { uploadFile: async () => ({ url: 'never' }) };
    await expect(uploadFilePath(client, '/nonexistent/talk.mp4')).rejects.toMatchObject({
      code: 'invalid_request',
      field: 'path',
      message: expect.stringContaining('/nonexistent/talk.mp4'),
    });
    await expect(uploadFilePath(client, '/tmp')).rejects.toMatchObject({ field: 'path' });
  });

  it('passes the file as a Blob with its name and type', async () => {
    const seen: Array<{ size: number; filename: string; contentType: string }> = [];
    const client = {
      uploadFile: async (data: Blob | Uint8Array, o: { filename: string; contentType: string }) => {
        seen.push({
          size: data instanceof Blob ? data.size : data.byteLength,
          filename: o.filename,
          contentType: o.contentType,
        });
        return { url: 'https://files/x' };
      },
    };
    const path = new URL('../package.json', import.meta.url).pathname;
    expect(await uploadFilePath(client, path, { contentType: 'application/json' })).toEqual({
      url: 'https://files/x',
    });
    expect(seen[0]).toMatchObject({ filename: 'package.json', contentType: 'application/json' });
    expect(seen[0]!.size).toBeGreaterThan(100);
  });
});

describe('contentTypeFor', () => {
  it('knows the VideoRetalk input types by extension', () => {
    expect(contentTypeFor('/a/b/talk.MOV')).toBe('video/quicktime');
    expect(contentTypeFor('dub.wav')).toBe('audio/wav');
    expect(contentTypeFor('face.jpg')).toBe('image/jpeg');
    expect(contentTypeFor('weird.xyz')).toBe('application/octet-stream');
  });
});
