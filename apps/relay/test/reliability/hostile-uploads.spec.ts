import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildRelay, fixture, sleep, until } from './child-relay.js';
import { probeResponsiveness } from './responsiveness.js';
import { recordScenario } from './scenario-results.js';
import { relayTotals, type Stack, startStack } from './stack.js';

/** Sends raw bytes on one connection and returns what came back when the server ends it (or after `waitMs`). */
function rawExchange(
  port: number,
  parts: (string | Buffer)[],
  opts: { endAfter?: boolean; waitMs?: number } = {},
) {
  return new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (c) => {
      answer += c.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.on('connect', () => {
      for (const p of parts) socket.write(p);
      if (opts.endAfter) socket.end();
    });
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, opts.waitMs ?? 3_000);
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

describe('the relay against hostile uploads', () => {
  let stack: Stack;
  let relay: ChildRelay;
  let token: string;

  beforeAll(async () => {
    stack = await startStack('evolink', { jobMs: 200 });
    relay = await stack.relay({ env: { RETALK_MAX_UPLOAD_MB: '1', RETALK_RATE_LIMIT_PER_MINUTE: '100000' } });
    token = await relay.addMember('mallory', { maxConcurrentJobs: 100 });
  });
  afterAll(async () => {
    await stack.close();
  });

  const leftovers = () => [
    ...fs.readdirSync(path.join(relay.dataDir, 'files', '.tmp')),
    ...fs.readdirSync(path.join(relay.dataDir, 'files', 'uploads')).filter((n) => !n.startsWith('upl_')),
  ];
  const put = (kind: string, filename: string, body: Buffer | string, type: string) =>
    relay.api('PUT', `/v1/uploads?kind=${kind}&filename=${encodeURIComponent(filename)}`, {
      token,
      rawBody: body,
      headers: { 'content-type': type },
    });

  it('judges a file by its bytes, not its declared type, and refuses archives, scripts and documents disguised as media', async () => {
    const zip = Buffer.concat([
      Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1'),
      Buffer.alloc(4000, 7),
    ]);
    const elf = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), Buffer.alloc(4000, 1)]);
    const cases: { name: string; kind: string; body: Buffer | string; type: string; filename: string }[] = [
      { name: 'zip as mp4', kind: 'video', body: zip, type: 'video/mp4', filename: 'clip.mp4' },
      { name: 'ELF binary as mp4', kind: 'video', body: elf, type: 'video/mp4', filename: 'clip.mp4' },
      {
        name: 'shell script as wav',
        kind: 'audio',
        body: '#!/bin/sh\nrm -rf / --no-preserve-root\n'.repeat(50),
        type: 'audio/wav',
        filename: 'a.wav',
      },
      {
        name: 'HTML with script as png',
        kind: 'image',
        body: '<html><script>alert(document.cookie)</script></html>',
        type: 'image/png',
        filename: 'face.png',
      },
      {
        name: 'SVG with script as image',
        kind: 'image',
        body: '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        type: 'image/svg+xml',
        filename: 'face.svg',
      },
      {
        name: 'PDF as video',
        kind: 'video',
        body: '%PDF-1.7\n'.padEnd(3000, 'x'),
        type: 'application/octet-stream',
        filename: 'x.mp4',
      },
      {
        name: 'truncated mp4 header',
        kind: 'video',
        body: fixture('talking-640x640-25fps-3s.mp4').subarray(0, 64),
        type: 'video/mp4',
        filename: 'cut.mp4',
      },
      {
        name: 'wav header with no samples',
        kind: 'audio',
        body: fixture('speech-4s.wav').subarray(0, 44),
        type: 'audio/wav',
        filename: 'empty.wav',
      },
      {
        name: 'html declared as text/html',
        kind: 'video',
        body: '<html></html>',
        type: 'text/html',
        filename: 'x.html',
      },
      {
        name: 'no content type',
        kind: 'video',
        body: fixture('talking-640x640-25fps-3s.mp4'),
        type: '',
        filename: 'x.mp4',
      },
    ];
    const rec = recordScenario(
      'hostile-input',
      'uploads-disguised',
      `${cases.length} disguised or mislabelled files + 2 real files with a wrong declared type`,
    );
    const answers = [];
    for (const c of cases) {
      const res = await put(c.kind, c.filename, c.body, c.type);
      answers.push({ name: c.name, status: res.status, code: res.json?.error?.code as string });
    }
    // Real media with a misleading declared type: stored with the type its bytes show.
    const mp4AsPng = await put('video', 'x.png', fixture('talking-640x640-25fps-3s.mp4'), 'image/png');
    const wavAsOctet = await put('audio', 'x.bin', fixture('speech-4s.wav'), 'application/octet-stream');
    Object.assign(rec, { inputsTried: cases.length + 2, ...relayTotals([relay]), details: { answers } });
    for (const a of answers) {
      expect([415, 422, 400], a.name).toContain(a.status);
    }
    expect(
      answers
        .filter((a) => a.name.includes('disguised') || a.name.includes(' as '))
        .every((a) => a.status !== 201),
    ).toBe(true);
    expect(mp4AsPng.status).toBe(201);
    expect(mp4AsPng.json.contentType).toBe('video/mp4');
    expect(wavAsOctet.status).toBe(201);
    expect(wavAsOctet.json.contentType).toMatch(/^audio\//);
    expect(leftovers()).toEqual([]);
  });

  it('refuses file names with path tricks and writes nothing outside its own storage', async () => {
    const names = [
      '../../etc/passwd',
      '..\\..\\windows\\win.ini',
      'a/b.mp4',
      '/abs.mp4',
      '.',
      '..',
      '..mp4/..',
      'x\u0000y.mp4',
      'line\nbreak.mp4',
      'tab\tname.mp4',
      'x'.repeat(201),
    ];
    const rec = recordScenario(
      'hostile-input',
      'uploads-path-tricks',
      `${names.length + 2} file names with traversal, separators, control characters and overlong length`,
    );
    const answers = [];
    for (const name of names) {
      const res = await put('video', name, fixture('talking-640x640-25fps-3s.mp4'), 'video/mp4');
      answers.push({
        name: JSON.stringify(name).slice(0, 40),
        status: res.status,
        field: res.json?.error?.field,
      });
    }
    // Encoded in the raw query string, so the server decodes them itself.
    for (const raw of ['..%2F..%2Fpwn.mp4', '%2e%2e%5c%2e%2e%5cpwn.mp4']) {
      const res = await relay.api('PUT', `/v1/uploads?kind=video&filename=${raw}`, {
        token,
        rawBody: fixture('talking-640x640-25fps-3s.mp4'),
        headers: { 'content-type': 'video/mp4' },
      });
      answers.push({ name: raw, status: res.status, field: res.json?.error?.field });
    }
    const dataFiles = fs.readdirSync(relay.dataDir, { recursive: true }).map(String);
    Object.assign(rec, { inputsTried: answers.length, ...relayTotals([relay]), details: { answers } });
    for (const a of answers) {
      expect(a.status, a.name).toBe(400);
      expect(a.field, a.name).toBe('filename');
    }
    expect(dataFiles.filter((f) => /pwn|passwd|win\.ini/.test(f))).toEqual([]);
    expect(fs.existsSync(path.resolve(relay.dataDir, '..', 'pwn.mp4'))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('handles lying Content-Length headers and oversize bodies with a 4xx and leaves nothing behind', async () => {
    const rec = recordScenario(
      'hostile-input',
      'uploads-lying-length',
      'Content-Length larger than the body, smaller than the body, over the limit; chunked bodies over the limit',
    );
    const head = (length: number | 'chunked') =>
      `PUT /v1/uploads?kind=video&filename=x.mp4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: video/mp4\r\n${
        length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`
      }\r\n\r\n`;
    const video = fixture('talking-640x640-25fps-3s.mp4');
    // Declares more than it sends, then closes its side.
    const short = await rawExchange(relay.port, [head(video.length + 5_000), video], { endAfter: true });
    // Declares less than it sends: the rest is read as a (broken) next request.
    const long = await rawExchange(relay.port, [head(1_000), video], { waitMs: 2_000 });
    // Declares far more than the limit: refused before the body.
    const huge = await rawExchange(relay.port, [head(400 * 1024 * 1024)], { waitMs: 2_000 });
    // Chunked past the 1 MiB limit.
    const chunk = Buffer.alloc(256 * 1024, 1);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const chunked = await rawExchange(
      relay.port,
      [head('chunked'), ...Array.from({ length: 6 }, () => framed), '0\r\n\r\n'],
      { waitMs: 3_000 },
    );
    const bothLengths = await rawExchange(
      relay.port,
      [head(10).replace('\r\n\r\n', '\r\nTransfer-Encoding: chunked\r\n\r\n'), '0\r\n\r\n'],
      { waitMs: 2_000 },
    );
    await until('the relay to clean up the refused bodies', () => leftovers().length === 0);
    const statuses = {
      short: statusOf(short),
      long: statusOf(long),
      huge: statusOf(huge),
      chunked: statusOf(chunked),
      bothLengths: statusOf(bothLengths),
    };
    Object.assign(rec, { inputsTried: 5, ...relayTotals([relay]), details: { statuses } });
    expect(statuses.short === 0 || (statuses.short >= 400 && statuses.short < 500)).toBe(true);
    expect(statuses.long).toBeGreaterThanOrEqual(400);
    expect(statuses.long).toBeLessThan(500);
    expect(statuses.huge).toBe(413);
    expect(statuses.chunked).toBe(413);
    expect(statuses.bothLengths).toBe(400);
    expect(leftovers()).toEqual([]);
    expect(relay.alive()).toBe(true);
  });

  it('stays responsive while many clients drip upload bodies a byte at a time, and cleans up after them', async () => {
    const rec = recordScenario(
      'hostile-input',
      'uploads-slow-drip',
      '20 connections dripping an upload body one byte every 100 ms for 3 s',
    );
    // A member may have 4 uploads in progress, so the 20 drips come from 5 members.
    const drippers = [token];
    for (let i = 1; i < 5; i++) drippers.push(await relay.addMember(`dripper${i}`));
    const sockets = Array.from({ length: 20 }, (_, i) => {
      const s = net.connect(relay.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write(
        `PUT /v1/uploads?kind=video&filename=x.mp4 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${drippers[i % 5]}\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n`,
      );
      return s;
    });
    const drip = setInterval(() => {
      for (const s of sockets) s.write('x');
    }, 100);
    const parts = () => fs.readdirSync(path.join(relay.dataDir, 'files', '.tmp')).length;
    await until('all 20 drips to reach the relay’s storage', () => parts() === 20);
    // Reads for 3 s while all 20 drip: a relay they blocked would answer one read or none.
    const probe = probeResponsiveness(relay, [{ path: '/healthz' }, { path: '/v1/me', token }], 50);
    await sleep(3_000);
    const latency = await probe.stop();
    const partsWhileDripping = parts();
    clearInterval(drip);
    for (const s of sockets) s.destroy();
    await until('the relay to clean up after the dropped drips', () => leftovers().length === 0);
    Object.assign(rec, {
      inputsTried: 20,
      ...relayTotals([relay]),
      details: { latency, partsWhileDripping },
    });
    expect(latency.failures).toBe(0);
    expect(latency.samples).toBeGreaterThanOrEqual(10);
    expect(partsWhileDripping).toBe(20);
    expect(leftovers()).toEqual([]);
  });

  it('serves a finished result whatever the job title holds (quotes, CRLF, lone surrogates, traversal)', async () => {
    const titles = [
      'a"b\r\nSet-Cookie: pwned=1',
      '../../etc/passwd',
      '\uD800 lone surrogate',
      'ünïcødé 🎬 title',
      '%0d%0aX-Injected: 1',
    ];
    const rec = recordScenario(
      'hostile-input',
      'result-download-titles',
      `${titles.length} hostile job titles used as the download name`,
    );
    const answers = [];
    for (const title of titles) {
      const created = await relay.api('POST', '/v1/jobs', { token, body: { ...stack.inputs(), title } });
      expect(created.status).toBe(201);
      await relay.waitForJob(created.json.id, token, (j) => j.status === 'succeeded');
      const res = await relay.api('GET', `/v1/jobs/${created.json.id}/result`, { token });
      answers.push({
        title: JSON.stringify(title),
        status: res.status,
        disposition: res.headers['content-disposition'],
        cookie: res.headers['set-cookie'],
        injected: res.headers['x-injected'],
      });
    }
    Object.assign(rec, { inputsTried: titles.length, ...relayTotals([relay]), details: { answers } });
    for (const a of answers) {
      expect(a.status, a.title).toBe(200);
      expect(a.cookie, a.title).toBeUndefined();
      expect(a.injected, a.title).toBeUndefined();
    }
    expect(relay.alive()).toBe(true);
  });
});
