import { describe, expect, it } from 'vitest';
import { exifOrientation, readImageHeader } from '../src/media/image-header.js';

/** An EXIF block (TIFF header on) holding IFD0 with the given entries, in either byte order. */
function tiff(order: 'II' | 'MM', entries: Array<[tag: number, value: number]>): Buffer {
  const le = order === 'II';
  const b = Buffer.alloc(8 + 2 + entries.length * 12 + 4);
  b.write(order, 0, 'latin1');
  const u16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const u32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  u16(42, 2);
  u32(8, 4);
  u16(entries.length, 8);
  entries.forEach(([tag, value], n) => {
    const at = 10 + n * 12;
    u16(tag, at);
    u16(3, at + 2); // SHORT
    u32(1, at + 4);
    u16(value, at + 8);
  });
  return b;
}

/** A JPEG's start: SOI, an APP1 EXIF segment, then a baseline SOF0 of `width`×`height`. */
function jpegWithExif(exif: Buffer, width: number, height: number): Buffer {
  const app1Body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), exif]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(app1Body.length + 2, 2);
  const sof = Buffer.from([0xff, 0xc0, 0, 17, 8, 0, 0, 0, 0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, app1Body, sof, Buffer.alloc(16)]);
}

describe('EXIF orientation of a JPEG', () => {
  it('reads it in both byte orders, among other tags', () => {
    expect(exifOrientation(tiff('MM', [[0x0112, 6]]))).toBe(6);
    expect(
      exifOrientation(
        tiff('II', [
          [0x010f, 7],
          [0x0112, 8],
        ]),
      ),
    ).toBe(8);
  });

  it('treats upright, out-of-range, missing and damaged blocks as upright', () => {
    expect(exifOrientation(tiff('II', [[0x0112, 1]]))).toBeUndefined();
    expect(exifOrientation(tiff('II', [[0x0112, 9]]))).toBeUndefined();
    expect(exifOrientation(tiff('MM', [[0x010f, 6]]))).toBeUndefined();
    expect(exifOrientation(tiff('MM', [[0x0112, 6]]).subarray(0, 20))).toBeUndefined();
    expect(exifOrientation(Buffer.from('XX*\0\0\0\0\x08', 'latin1'))).toBeUndefined();
  });

  it('reports the stored size and the orientation from the file header', () => {
    expect(readImageHeader(jpegWithExif(tiff('MM', [[0x0112, 6]]), 4032, 3024))).toEqual({
      container: 'jpeg',
      image: { width: 4032, height: 3024, orientation: 6 },
    });
    expect(readImageHeader(jpegWithExif(tiff('II', [[0x0112, 1]]), 640, 480))).toEqual({
      container: 'jpeg',
      image: { width: 640, height: 480 },
    });
  });
});
