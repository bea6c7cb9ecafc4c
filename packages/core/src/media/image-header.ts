import type { ProbedImage } from '../conform/probed-media.js';

/** Bytes of a file's start that {@link readImageHeader} needs (JPEG's size comes after its EXIF block). */
export const IMAGE_HEADER_BYTES = 256 * 1024;

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
const u16be = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, at: number) => u16le(b, at) | ((b[at + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, at: number) => ((u16be(b, at) << 16) | u16be(b, at + 2)) >>> 0;
const i32le = (b: Uint8Array, at: number) => u16le(b, at) | (u16le(b, at + 2) << 16);

function jpegSize(b: Uint8Array): ProbedImage | undefined {
  let i = 2;
  while (i + 9 < b.byteLength) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1] ?? 0;
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return { height: u16be(b, i + 5), width: u16be(b, i + 7) };
    i += 2 + u16be(b, i + 2);
  }
  return undefined;
}

/**
 * The format and pixel size of a PNG, JPEG, WebP, BMP or GIF image from the start of its file
 * (at least {@link IMAGE_HEADER_BYTES} when there are that many). `undefined` when it is none of
 * them; a size of `undefined` when the header is damaged.
 */
export function readImageHeader(b: Uint8Array): { container: string; image?: ProbedImage } | undefined {
  if (b.byteLength >= 24 && u32be(b, 0) === 0x89504e47) {
    return { container: 'png', image: { width: u32be(b, 16), height: u32be(b, 20) } };
  }
  if (b.byteLength >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    const image = jpegSize(b);
    return image ? { container: 'jpeg', image } : { container: 'jpeg' };
  }
  if (b.byteLength >= 10 && ascii(b, 0, 3) === 'GIF') {
    return { container: 'gif', image: { width: u16le(b, 6), height: u16le(b, 8) } };
  }
  if (b.byteLength >= 26 && ascii(b, 0, 2) === 'BM') {
    return { container: 'bmp', image: { width: i32le(b, 18), height: Math.abs(i32le(b, 22)) } };
  }
  if (b.byteLength >= 30 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') {
    const chunk = ascii(b, 12, 16);
    if (chunk === 'VP8 ')
      return { container: 'webp', image: { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff } };
    if (chunk === 'VP8L') {
      const bits = (u16le(b, 21) | (u16le(b, 23) << 16)) >>> 0;
      return {
        container: 'webp',
        image: { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 },
      };
    }
    if (chunk === 'VP8X')
      return { container: 'webp', image: { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 } };
    return { container: 'webp' };
  }
  return undefined;
}
