import { describe, expect, it } from 'vitest';
import { guardSamples, toByteSource } from '../src/media/index.js';
import { caught } from './support.js';

function box(type: string, ...children: Uint8Array[]): Uint8Array {
  const length = 8 + children.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(length);
  new DataView(out.buffer).setUint32(0, length);
  out.set(new TextEncoder().encode(type), 4);
  let at = 8;
  for (const c of children) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function fields(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => {
    new DataView(out.buffer).setUint32(i * 4, v);
  });
  return out;
}

/** An MP4 whose video track's `stsz` claims `count` samples and holds `stored` entries. */
function mp4(count: number, stored: number): Uint8Array {
  const hdlr = box('hdlr', fields(0, 0), new TextEncoder().encode('vide'), fields(0, 0, 0));
  const stsz = box('stsz', fields(0, 0, count), new Uint8Array(stored * 4));
  const moov = box('moov', box('trak', box('mdia', hdlr, box('minf', box('stbl', stsz)))));
  return new Uint8Array([...box('ftyp', new TextEncoder().encode('isom'), fields(0)), ...moov]);
}

describe('guardSamples', () => {
  it('lets a file with a plausible sample table through', async () => {
    await expect(guardSamples(toByteSource(mp4(300, 300)))).resolves.toBeUndefined();
  });

  it('refuses an MP4 whose table claims 25 M samples it does not hold, without reading them', async () => {
    const error = await caught(guardSamples(toByteSource(mp4(25_000_000, 10))));
    expect(error).toMatchObject({ code: 'conform', reason: 'undecodable' });
    expect(error.message).toMatch(/sample table is cut short/);
  });

  it('refuses more samples than maxSamples even when the table is complete', async () => {
    const error = await caught(guardSamples(toByteSource(mp4(2000, 2000)), { maxSamples: 1000 }));
    expect(error).toMatchObject({ code: 'conform', reason: 'too_many_samples' });
    expect(error.message).toBe(
      'The file claims 2,000 frames, more than the 1,000 a usable input can have; export it again or choose another file.',
    );
  });

  it('refuses an MP4 cut short (a box runs past the end of the file)', async () => {
    const whole = mp4(300, 300);
    const error = await caught(guardSamples(toByteSource(whole.subarray(0, whole.byteLength - 100))));
    expect(error).toMatchObject({ reason: 'undecodable' });
    expect(error.message).toMatch(/cut short/);
  });

  it('estimates an MP3 of tiny frames from its first frame and refuses an absurd count', async () => {
    // MPEG-2 layer III, 8 kbit/s at 24 kHz: 24-byte frames.
    const frame = new Uint8Array(24);
    frame.set([0xff, 0xf3, 0x14, 0xc4]);
    const file = new Uint8Array(24 * 30_000);
    for (let i = 0; i < 30_000; i++) file.set(frame, i * 24);
    const error = await caught(guardSamples(toByteSource(file), { maxSamples: 10_000 }));
    expect(error).toMatchObject({ reason: 'too_many_samples' });
    await expect(guardSamples(toByteSource(file), { maxSamples: 50_000 })).resolves.toBeUndefined();
  });

  it('leaves other containers to their parsers', async () => {
    await expect(
      guardSamples(toByteSource(new TextEncoder().encode('plain text, not media'))),
    ).resolves.toBeUndefined();
  });
});
