import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, type Harness, startRelay } from './harness.js';

// Real images made by real encoders (test/fixtures/images/README.md), and hostile bytes that carry
// a valid signature (findings L13: 33 bytes of HTML behind "BM" were stored as image/bmp).
const IMAGES = path.resolve(import.meta.dirname, 'fixtures/images');
const image = (name: string) => fs.readFileSync(path.join(IMAGES, name));
const face = fs.readFileSync(path.join(FIXTURES, 'face.png'));
const html = Buffer.from('<html><body><script>alert(document.cookie)</script></body></html>');

/** A PNG chunk with its CRC. */
function pngChunk(type: string, data: Buffer): Buffer {
  const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A PNG whose header claims 4096×4096 RGB but whose pixel data is a few bytes. */
function pngWithShortPixelData(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4096, 0);
  ihdr.writeUInt32BE(4096, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    face.subarray(0, 8),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.from('789c030000000001', 'hex')),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('image uploads are decoded, not sniffed (findings L13)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startRelay({ provider: 'dashscope', env: { RETALK_RATE_LIMIT_PER_MINUTE: '100000' } });
  });
  afterAll(async () => {
    await h.close();
  });

  const put = (body: Buffer, filename: string) =>
    h.api('PUT', `/v1/uploads?kind=image&filename=${filename}`, {
      rawBody: body,
      headers: { 'content-type': 'application/octet-stream' },
    });

  it.each([
    ['face.png', face, 'image/png', 256],
    ['face-interlaced.png', image('face-interlaced.png'), 'image/png', 128],
    ['face.jpg', image('face.jpg'), 'image/jpeg', 128],
    ['face-progressive.jpg', image('face-progressive.jpg'), 'image/jpeg', 128],
    ['face.webp', image('face.webp'), 'image/webp', 128],
    ['face-lossless.webp', image('face-lossless.webp'), 'image/webp', 64],
    ['face.bmp', image('face.bmp'), 'image/bmp', 64],
  ])('accepts a real %s with its type and size', async (name, body, contentType, side) => {
    const res = await put(body, name);
    expect(res.status, res.text).toBe(201);
    expect(res.json.contentType).toBe(contentType);
    expect(res.json.media).toMatchObject({ kind: 'image', width: side, height: side });
  });

  const corruptIdat = Buffer.from(face);
  const flipped = face.indexOf('IDAT', 0, 'latin1') + 40;
  corruptIdat.writeUInt8((face[flipped] ?? 0) ^ 0xff, flipped);
  it.each([
    ['HTML behind a BMP signature', Buffer.concat([Buffer.from('BM'), html]), /not a valid BMP/],
    ['HTML behind a JPEG signature', Buffer.concat([Buffer.from('ffd8ff', 'hex'), html]), /not a valid JPEG/],
    ['HTML behind a PNG signature', Buffer.concat([face.subarray(0, 8), html]), /not a valid PNG/],
    [
      'HTML in a RIFF WEBP wrapper',
      Buffer.concat([
        Buffer.from('RIFF'),
        Buffer.from([html.length + 4, 0, 0, 0]),
        Buffer.from('WEBP'),
        html,
      ]),
      /not a valid WebP/,
    ],
    ['a PNG with HTML appended', Buffer.concat([face, html]), /PNG: \d+ bytes follow the end of the image/],
    ['a JPEG with HTML appended', Buffer.concat([image('face.jpg'), html]), /JPEG: \d+ bytes follow the end/],
    [
      'a WebP with HTML appended',
      Buffer.concat([image('face.webp'), html]),
      /WebP: \d+ bytes follow the end/,
    ],
    ['a BMP with HTML appended', Buffer.concat([image('face.bmp'), html]), /BMP: \d+ bytes follow the end/],
    ['a PNG cut in half', face.subarray(0, face.length >> 1), /not a valid PNG/],
    ['a JPEG cut in half', image('face.jpg').subarray(0, 1600), /JPEG: the file ends before its end marker/],
    ['a PNG with damaged pixel data', corruptIdat, /PNG: the IDAT chunk is damaged/],
    ['a PNG claiming 4096×4096 over a few bytes', pngWithShortPixelData(), /pixel data does not decode/],
  ])('refuses %s with 422 on the body, naming the formats it takes', async (_name, body, message) => {
    const res = await put(body, 'x.img');
    expect(res.status, res.text).toBe(422);
    expect(res.json.error).toMatchObject({
      code: 'media_rejected',
      field: 'body',
      allowed: ['PNG', 'JPEG', 'WebP', 'BMP'],
    });
    expect(res.json.error.message).toMatch(/^The uploaded image is not a valid/);
    expect(res.json.error.message).toMatch(message);
  });
});
