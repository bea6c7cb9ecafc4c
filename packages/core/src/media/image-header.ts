import type { ImageOrientation, ProbedImage } from '../conform/probed-media.js';

/** Bytes of a file's start that {@link readImageHeader} needs (JPEG's size comes after its EXIF block). */
export const IMAGE_HEADER_BYTES = 256 * 1024;

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
const u16be = (b: Uint8Array, at: number) => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u16le = (b: Uint8Array, at: number) => (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
const u24le = (b: Uint8Array, at: number) => u16le(b, at) | ((b[at + 2] ?? 0) << 16);
const u32be = (b: Uint8Array, at: number) => ((u16be(b, at) << 16) | u16be(b, at + 2)) >>> 0;
const i32le = (b: Uint8Array, at: number) => u16le(b, at) | (u16le(b, at + 2) << 16);

/**
 * The orientation tag (0x0112) of IFD0 in an EXIF block (`b` from its TIFF header on); undefined
 * when absent, upright, out of range or the block is damaged.
 */
export function exifOrientation(b: Uint8Array): ImageOrientation | undefined {
  if (b.byteLength < 8) return undefined;
  const order = ascii(b, 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const u16 = order === 'II' ? u16le : u16be;
  const u32 =
    order === 'II' ? (x: Uint8Array, at: number) => (u16le(x, at) | (u16le(x, at + 2) << 16)) >>> 0 : u32be;
  if (u16(b, 2) !== 42) return undefined;
  const ifd = u32(b, 4);
  if (ifd + 2 > b.byteLength) return undefined;
  const entries = u16(b, ifd);
  for (let n = 0; n < entries; n++) {
    const at = ifd + 2 + n * 12;
    if (at + 12 > b.byteLength) return undefined;
    if (u16(b, at) !== 0x0112) continue;
    // SHORT (type 3), count 1: the value sits in the entry's first two value bytes.
    const value = u16(b, at + 8);
    return value >= 2 && value <= 8 ? (value as ImageOrientation) : undefined;
  }
  return undefined;
}

function jpegSize(b: Uint8Array): ProbedImage | undefined {
  let i = 2;
  let orientation: ImageOrientation | undefined;
  while (i + 9 < b.byteLength) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1] ?? 0;
    if (marker === 0xff) {
      i += 1;
      continue;
    }
    const length = u16be(b, i + 2);
    // APP1 "Exif\0\0" then a TIFF header: the first one decides (a later APP1 is XMP or a thumbnail's).
    if (marker === 0xe1 && orientation === undefined && ascii(b, i + 4, i + 10) === 'Exif\0\0') {
      orientation = exifOrientation(b.subarray(i + 10, Math.min(b.byteLength, i + 2 + length)));
    }
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      const size: ProbedImage = { height: u16be(b, i + 5), width: u16be(b, i + 7) };
      return orientation ? { ...size, orientation } : size;
    }
    i += 2 + length;
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
