// Crafted media for finding H2 (sample-table bomb) and M2 (MP3 frame bomb): files whose tables or
// frames claim far more samples than any clip could have. The hostile bench uploads the full-size
// ones; the relay's tests upload small ones just past the probe's sample cap.

import fs from 'node:fs';
import path from 'node:path';

const FIXTURES = path.resolve(import.meta.dirname, '../../../packages/simulator/fixtures');

/**
 * `bytes` of the smallest MP3 frames there are (MPEG-1 Layer III, 32 kbit/s, 48 kHz, mono: 96 bytes,
 * 24 ms each): 25 MB is about 260 000 frames, 6 250 s of silence for a demuxer to walk.
 */
export function mp3Bomb(bytes) {
  const frame = Buffer.alloc(96);
  frame.set([0xff, 0xfb, 0x14, 0xc0]);
  const count = Math.floor(bytes / frame.length);
  const out = Buffer.allocUnsafe(count * frame.length);
  for (let i = 0; i < count; i++) frame.copy(out, i * frame.length);
  return out;
}

function box(type, ...parts) {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}
const fullBox = (type, version, flags, ...parts) => {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE((((version & 0xff) << 24) | (flags & 0xffffff)) >>> 0);
  return box(type, vf, ...parts);
};
const u32 = (...values) => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => {
    b.writeUInt32BE(v >>> 0, 4 * i);
  });
  return b;
};

/** The first box on the path of types below `buf` whose top-level box passes `predicate`: its bytes. */
function findBox(buf, pathTypes, predicate = () => true) {
  const [type, ...rest] = pathTypes;
  for (let pos = 0; pos + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(pos);
    if (size < 8) break;
    const whole = buf.subarray(pos, pos + size);
    if (buf.toString('latin1', pos + 4, pos + 8) === type) {
      if (rest.length === 0) return whole;
      const inner = findBox(whole.subarray(8), rest, predicate);
      if (inner && (rest.length !== pathTypes.length - 2 || predicate(whole))) return inner;
    }
    pos += size;
  }
  return undefined;
}

/**
 * An MP4 whose one video track (the fixture's real avc1 sample description) claims `samples`
 * samples in complete stsz/stts tables (4 bytes each: 25 million make 100 MB), with almost no media
 * data: the sample-table bomb of finding H2.
 */
export function mp4Bomb(samples) {
  const fixture = fs.readFileSync(path.join(FIXTURES, 'talking-640x640-25fps-3s.mp4'));
  const moovBox = findBox(fixture, ['moov']);
  let stsd;
  for (let pos = 8; pos + 8 <= moovBox.length; pos += moovBox.readUInt32BE(pos)) {
    const child = moovBox.subarray(pos, pos + moovBox.readUInt32BE(pos));
    if (child.toString('latin1', 4, 8) === 'trak' && child.includes(Buffer.from('vide', 'latin1'))) {
      stsd = findBox(child.subarray(8), ['mdia', 'minf', 'stbl', 'stsd']);
      break;
    }
  }
  if (!stsd) throw new Error('no video stsd in the fixture');
  const n = samples;
  const sizes = Buffer.alloc(4 * n, 0);
  for (let i = 0; i < n; i++) sizes[4 * i + 3] = 16;
  const timescale = 12_800;
  const duration = n * 512;
  const movieDuration = Math.min(0xffffffff, Math.floor(duration / 12.8));
  const matrix = u32(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000);
  const stbl = box(
    'stbl',
    stsd,
    fullBox('stts', 0, 0, u32(1, n, 512)),
    fullBox('stsc', 0, 0, u32(1, 1, n, 1)),
    fullBox('stsz', 0, 0, u32(0, n), sizes),
    fullBox('stco', 0, 0, u32(1, 0)),
  );
  const minf = box(
    'minf',
    fullBox('vmhd', 0, 1, Buffer.alloc(8)),
    box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))),
    stbl,
  );
  const hdlr = fullBox(
    'hdlr',
    0,
    0,
    u32(0),
    Buffer.from('vide', 'latin1'),
    Buffer.alloc(12),
    Buffer.from('bomb\0'),
  );
  const mdhd = fullBox(
    'mdhd',
    0,
    0,
    u32(0, 0, timescale, Math.min(0xffffffff, duration)),
    Buffer.from([0x55, 0xc4, 0, 0]),
  );
  const tkhd = fullBox(
    'tkhd',
    0,
    3,
    u32(0, 0, 1, 0, movieDuration),
    Buffer.alloc(16),
    matrix,
    u32(640 << 16, 640 << 16),
  );
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32(0, 0, 1000, movieDuration, 0x10000),
    Buffer.from([1, 0]),
    Buffer.alloc(10),
    matrix,
    Buffer.alloc(24),
    u32(2),
  );
  const moov = box('moov', mvhd, box('trak', tkhd, box('mdia', mdhd, hdlr, minf)));
  const ftyp = box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from('isomavc1', 'latin1'));
  const mdat = box('mdat', Buffer.alloc(1024));
  const out = Buffer.concat([ftyp, moov, mdat]);
  // The one chunk starts in the mdat, after the moov.
  const stco = out.lastIndexOf(Buffer.from('stco', 'latin1'), ftyp.length + moov.length);
  out.writeUInt32BE(ftyp.length + moov.length + 8, stco + 12);
  return out;
}
