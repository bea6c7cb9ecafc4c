import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_UPLOADS_IN_PROGRESS } from '../src/routes/uploads.js';
import { type Harness, startRelay } from './harness.js';

/** A raw client connection: what the server sent, and a promise of it once the server closed it. */
function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.on('data', (c: Buffer) => {
    received += c.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const firstAnswer = new Promise<string>((resolve) => {
    const check = () => {
      if (/\r\n\r\n/.test(received)) resolve(received);
    };
    socket.on('data', check);
    socket.on('close', () => resolve(received));
  });
  return {
    socket,
    closed,
    connected,
    firstAnswer,
    /** Keeps sending a byte every `everyMs` until the server closes the connection. */
    drip(everyMs: number) {
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write('x');
      }, everyMs);
      void closed.then(() => clearInterval(timer));
    },
    received: () => received,
  };
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

describe('slow and refused clients (findings M1)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({
      provider: 'evolink',
      env: {
        RETALK_IDLE_TIMEOUT_MS: '400',
        RETALK_HEADERS_TIMEOUT_MS: '600',
        RETALK_REQUEST_TIMEOUT_MS: '1500',
      },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers a callback with an unknown token before reading its body, and closes the connection', async () => {
    const c = rawConnection(h.url);
    await c.connected;
    c.socket.write(
      'POST /v1/callbacks/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
    );
    // The client keeps dripping its body far more often than the idle timeout: only the token
    // check (and the close that follows it) can end this exchange.
    c.drip(50);
    const answer = await c.closed;
    expect(statusOf(answer)).toBe(404);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('closes the connection after refusing an unauthenticated upload, however the body keeps coming', async () => {
    const c = rawConnection(h.url);
    await c.connected;
    c.socket.write(
      `PUT /v1/uploads?kind=video&filename=a.mp4 HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 300000000\r\n\r\n${'\0'.repeat(100)}`,
    );
    c.drip(50);
    const answer = await c.closed;
    expect(statusOf(answer)).toBe(401);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('closes a signed-in upload whose body stalls, once the idle timeout passes', async () => {
    const c = rawConnection(h.url);
    await c.connected;
    c.socket.write(
      `PUT /v1/uploads?kind=video&filename=a.mp4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: video/mp4\r\nContent-Length: 5000000\r\n\r\n${'\0'.repeat(100)}`,
    );
    await c.closed;
    // Nothing of the stalled upload is kept.
    const rows = await h.relay.context.store.listExpiredUploads(Number.MAX_SAFE_INTEGER);
    expect(rows).toEqual([]);
  });

  it('closes a connection that drips its headers past the headers timeout', async () => {
    const c = rawConnection(h.url);
    await c.connected;
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    c.drip(50); // bytes keep coming (no idle timeout), but the headers never end
    await c.closed;
    expect(c.received()).not.toContain('"ok":true');
  });

  it('closes a signed-in upload that drips its body past the request timeout', async () => {
    const c = rawConnection(h.url);
    await c.connected;
    c.socket.write(
      `PUT /v1/uploads?kind=audio&filename=a.wav HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: audio/wav\r\nContent-Length: 5000000\r\n\r\nRIFF`,
    );
    c.drip(50);
    await c.closed;
    expect(await h.relay.context.store.listExpiredUploads(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it(`lets a member have at most ${MAX_UPLOADS_IN_PROGRESS} uploads in progress`, async () => {
    const open = [];
    for (let i = 0; i < MAX_UPLOADS_IN_PROGRESS; i++) {
      const c = rawConnection(h.url);
      await c.connected;
      c.socket.write(
        `PUT /v1/uploads?kind=video&filename=a.mp4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: video/mp4\r\nContent-Length: 5000000\r\n\r\n`,
      );
      c.drip(50);
      open.push(c);
    }
    // The relay has seen every one of them once they have all sent their first body bytes; a
    // fifth upload is then refused.
    let refused: { status: number; json: { error?: { code?: string } } } | undefined;
    while (!refused) {
      const res = await h.api('PUT', '/v1/uploads?kind=video&filename=b.mp4', {
        rawBody: new Uint8Array(10),
        headers: { 'content-type': 'video/mp4' },
      });
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(422); // a started upload not registered yet: the tiny body is judged
    }
    expect(refused.json.error?.code).toBe('rate_limited');
    for (const c of open) c.socket.destroy();
    await Promise.all(open.map((c) => c.closed));
  });
});
