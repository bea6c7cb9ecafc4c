import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { crc32, createInflate } from 'node:zlib';

// Reference images are decoded, not sniffed (findings L13): a file is accepted only when its
// structure reads as a whole image of its format, from the signature to the end marker, with
// nothing after it. Magic bytes alone let 33 bytes of HTML through as a BMP.

export interface DecodedImage {
  format: 'png' | 'jpeg' | 'webp' | 'bmp';
  contentType: string;
  width: number;
  height: number;
}

/** Why the bytes are not an image; `message` completes "The uploaded image …". */
export interface ImageProblem {
  message: string;
}

export const IMAGE_FORMATS = ['PNG', 'JPEG', 'WebP', 'BMP'] as const;

const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

type Decoded = DecodedImage | ImageProblem;

const problem = (format: string, why: string): ImageProblem => ({
  message: `is not a valid ${format}: ${why}`,
});

/** Decodes the structure of a PNG, JPEG, WebP or BMP file (at most the upload limit, 10 MB). */
export async function decodeImage(filePath: string): Promise<Decoded> {
  const b = await readFile(filePath);
  if (b.subarray(0, 8).equals(PNG_SIGNATURE)) return decodePng(b);
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return decodeJpeg(b);
  if (b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return decodeWebp(b);
  if (b.toString('latin1', 0, 2) === 'BM') return decodeBmp(b);
  return { message: `is not a ${IMAGE_FORMATS.join(', ')} image` };
}

function trailing(format: string, extra: number): ImageProblem {
  return problem(format, `${extra} bytes follow the end of the image`);
}

// ---- PNG: every chunk's CRC, IHDR's fields, and the pixel data inflated to exactly its size ----

const PNG_CHANNELS: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};
/** Adam7: [x start, y start, x step, y step] of each pass. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
/** Pixel data larger than a 4096×4096 16-bit RGBA image is not inflated (the side limit refuses it). */
const MAX_PNG_RAW_BYTES = 4096 * (1 + 4096 * 8);

function pngRawBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) =>
    w === 0 || h === 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  if (!interlaced) return rows(width, height);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7)
    total += rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy));
  return total;
}

async function decodePng(b: Buffer): Promise<Decoded> {
  const fail = (why: string) => problem('PNG', why);
  let pos = 8;
  let header: { width: number; height: number; bitsPerPixel: number; interlaced: boolean } | undefined;
  let palette = false;
  let colorType = -1;
  const data: Buffer[] = [];
  for (;;) {
    if (pos + 12 > b.length) return fail('the file ends inside a chunk (no IEND chunk)');
    const length = b.readUInt32BE(pos);
    const type = b.toString('latin1', pos + 4, pos + 8);
    if (!/^[A-Za-z]{4}$/.test(type)) return fail(`the chunk at byte ${pos} has no valid type`);
    if (length > 0x7fffffff || pos + 12 + length > b.length)
      return fail(`the ${type} chunk runs past the end of the file`);
    const body = b.subarray(pos + 8, pos + 8 + length);
    if (crc32(b.subarray(pos + 4, pos + 8 + length)) !== b.readUInt32BE(pos + 8 + length))
      return fail(`the ${type} chunk is damaged (its CRC does not match)`);
    pos += 12 + length;
    if (!header && type !== 'IHDR') return fail('it does not start with an IHDR chunk');
    if (type === 'IHDR') {
      if (header) return fail('it has two IHDR chunks');
      if (length !== 13) return fail('the IHDR chunk is not 13 bytes long');
      const width = body.readUInt32BE(0);
      const height = body.readUInt32BE(4);
      const depth = body[8] ?? 0;
      colorType = body[9] ?? -1;
      const kind = PNG_CHANNELS[colorType];
      if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff)
        return fail(`its size ${width}×${height} is not a valid image size`);
      if (!kind?.depths.includes(depth))
        return fail(`colour type ${colorType} with bit depth ${depth} is not a PNG pixel format`);
      if (body[10] !== 0 || body[11] !== 0 || (body[12] !== 0 && body[12] !== 1))
        return fail('the IHDR chunk names an unknown compression, filter or interlace method');
      header = { width, height, bitsPerPixel: depth * kind.channels, interlaced: body[12] === 1 };
    } else if (type === 'PLTE') {
      palette = true;
    } else if (type === 'IDAT') {
      data.push(body);
    } else if (type === 'IEND') {
      if (pos !== b.length) return trailing('PNG', b.length - pos);
      break;
    } else if (type.charCodeAt(0) < 0x61) {
      // Upper-case first letter: a critical chunk, which a decoder must understand to show the image.
      return fail(`it has an unknown critical chunk ${type}`);
    }
  }
  if (!header) return fail('it has no IHDR chunk');
  if (colorType === 3 && !palette) return fail('it uses a palette but has no PLTE chunk');
  if (data.length === 0) return fail('it has no pixel data (IDAT chunk)');
  const expected = pngRawBytes(header.width, header.height, header.bitsPerPixel, header.interlaced);
  if (expected <= MAX_PNG_RAW_BYTES) {
    const inflated = await inflatedLength(data, expected);
    if (inflated !== expected)
      return fail(`its pixel data does not decode to a ${header.width}×${header.height} image`);
  }
  return { format: 'png', contentType: 'image/png', width: header.width, height: header.height };
}

/** Inflates the zlib stream without keeping it: its length, or -1 when damaged or longer than `limit`. */
async function inflatedLength(parts: Buffer[], limit: number): Promise<number> {
  const inflate = createInflate();
  let total = 0;
  let failed = false;
  inflate.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (total > limit && !failed) {
      failed = true;
      inflate.destroy();
    }
  });
  inflate.on('error', () => {
    failed = true;
  });
  for (const part of parts) inflate.write(part);
  inflate.end();
  await Promise.race([once(inflate, 'end'), once(inflate, 'close')]).catch(() => undefined);
  return failed ? -1 : total;
}

// ---- JPEG: the marker segments from SOI to EOI, a frame header (SOF) before the first scan ----

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function decodeJpeg(b: Buffer): Decoded {
  const fail = (why: string) => problem('JPEG', why);
  let pos = 2;
  let frame: { width: number; height: number } | undefined;
  let scans = 0;
  for (;;) {
    if (pos + 2 > b.length) return fail('the file ends before its end marker (EOI)');
    if (b[pos] !== 0xff) return fail(`byte ${pos} should start a marker`);
    let marker = b[pos + 1] as number;
    while (marker === 0xff && pos + 2 < b.length) marker = b[++pos + 1] as number;
    if (marker === 0xd9) {
      if (!frame) return fail('it has no frame header (SOF)');
      if (scans === 0) return fail('it has no image scan (SOS)');
      const end = pos + 2;
      if (end !== b.length) return trailing('JPEG', b.length - end);
      return { format: 'jpeg', contentType: 'image/jpeg', ...frame };
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (marker === 0x00 || marker === 0xd8) return fail(`byte ${pos} holds a marker that cannot appear here`);
    if (pos + 4 > b.length) return fail('the file ends inside a marker segment');
    const length = b.readUInt16BE(pos + 2);
    if (length < 2 || pos + 2 + length > b.length)
      return fail(`the segment at byte ${pos} runs past the end of the file`);
    if (SOF_MARKERS.has(marker)) {
      if (frame) return fail('it has two frame headers (SOF)');
      const components = b[pos + 9] ?? 0;
      const precision = b[pos + 4];
      const height = b.readUInt16BE(pos + 5);
      const width = b.readUInt16BE(pos + 7);
      if (length !== 8 + 3 * components || ![1, 3, 4].includes(components))
        return fail('its frame header (SOF) is malformed');
      if (precision !== 8 && precision !== 12)
        return fail(`sample precision ${precision} is not 8 or 12 bits`);
      if (width === 0 || height === 0) return fail(`its size ${width}×${height} is not a valid image size`);
      frame = { width, height };
    }
    pos += 2 + length;
    if (marker === 0xda) {
      if (!frame) return fail('a scan (SOS) comes before the frame header (SOF)');
      scans++;
      // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart marker.
      while (pos < b.length) {
        if (b[pos] === 0xff && pos + 1 < b.length) {
          const next = b[pos + 1] as number;
          if (next !== 0x00 && next !== 0xff && !(next >= 0xd0 && next <= 0xd7)) break;
        }
        pos++;
      }
    }
  }
}

// ---- WebP: the RIFF size, every chunk within it, and the VP8/VP8L bitstream header ----

function decodeWebp(b: Buffer): Decoded {
  const fail = (why: string) => problem('WebP', why);
  const riffEnd = 8 + b.readUInt32LE(4);
  if (riffEnd > b.length) return fail('the file is shorter than its RIFF header says');
  if (riffEnd < b.length) return trailing('WebP', b.length - riffEnd);
  let pos = 12;
  let canvas: { width: number; height: number } | undefined;
  let image: { width: number; height: number } | undefined;
  let animated = false;
  let first = true;
  while (pos < riffEnd) {
    if (pos + 8 > riffEnd) return fail('the file ends inside a chunk header');
    const type = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = b.subarray(pos + 8, pos + 8 + size);
    if (pos + 8 + size > riffEnd) return fail(`the ${type.trim()} chunk runs past the end of the file`);
    if (first && type !== 'VP8 ' && type !== 'VP8L' && type !== 'VP8X')
      return fail('it does not start with a VP8, VP8L or VP8X chunk');
    first = false;
    if (type === 'VP8X') {
      if (size < 10) return fail('its VP8X chunk is too short');
      animated = ((body[0] ?? 0) & 0x02) !== 0;
      canvas = { width: 1 + body.readUIntLE(4, 3), height: 1 + body.readUIntLE(7, 3) };
    } else if (type === 'VP8 ' || type === 'VP8L') {
      if (image) return fail('it has two image bitstreams');
      const decoded = type === 'VP8 ' ? vp8Size(body) : vp8lSize(body);
      if (typeof decoded === 'string') return fail(decoded);
      image = decoded;
    }
    pos += 8 + size + (size % 2);
  }
  if (pos !== riffEnd) return fail('its last chunk is not padded as RIFF requires');
  if (!image && !animated) return fail('it has no VP8 or VP8L image data');
  const size = canvas ?? image;
  if (!size) return fail('it has no image size');
  return { format: 'webp', contentType: 'image/webp', ...size };
}

function vp8Size(body: Buffer): { width: number; height: number } | string {
  if (body.length < 10) return 'its VP8 chunk is too short';
  if (((body[0] ?? 1) & 0x01) !== 0) return 'its VP8 data does not start with a key frame';
  if (body[3] !== 0x9d || body[4] !== 0x01 || body[5] !== 0x2a) return 'its VP8 data has no start code';
  const width = body.readUInt16LE(6) & 0x3fff;
  const height = body.readUInt16LE(8) & 0x3fff;
  return width === 0 || height === 0
    ? `its size ${width}×${height} is not a valid image size`
    : { width, height };
}

function vp8lSize(body: Buffer): { width: number; height: number } | string {
  if (body.length < 5) return 'its VP8L chunk is too short';
  if (body[0] !== 0x2f) return 'its VP8L data has no signature';
  const bits = body.readUInt32LE(1);
  if (bits >>> 29 !== 0) return 'its VP8L version is not 0';
  return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
}

// ---- BMP: the file header's size, a known DIB header, and pixel rows that fit the file ----

const DIB_HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

function decodeBmp(b: Buffer): Decoded {
  const fail = (why: string) => problem('BMP', why);
  if (b.length < 26) return fail('the file is shorter than a BMP header');
  const declared = b.readUInt32LE(2);
  if (declared > b.length) return fail('the file is shorter than its header says');
  const dib = b.readUInt32LE(14);
  if (!DIB_HEADER_SIZES.has(dib)) return fail(`a ${dib}-byte DIB header is not a known BMP header`);
  if (b.length < 14 + dib) return fail('the file ends inside its DIB header');
  const core = dib === 12;
  const width = core ? b.readUInt16LE(18) : b.readInt32LE(18);
  const rawHeight = core ? b.readUInt16LE(20) : b.readInt32LE(22);
  const height = Math.abs(rawHeight);
  const planes = b.readUInt16LE(core ? 22 : 26);
  const bpp = b.readUInt16LE(core ? 24 : 28);
  const compression = core ? 0 : b.readUInt32LE(30);
  if (width <= 0 || height === 0) return fail(`its size ${width}×${rawHeight} is not a valid image size`);
  if (planes !== 1) return fail(`it has ${planes} colour planes (BMP has 1)`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) return fail(`${bpp} bits per pixel is not a BMP pixel format`);
  if (![0, 1, 2, 3, 6].includes(compression))
    return fail(`compression method ${compression} is not supported`);
  const pixels = b.readUInt32LE(10);
  if (pixels < 14 + dib || pixels > b.length) return fail('its pixel data offset points outside the file');
  let end = declared;
  if (compression === 0 || compression === 3 || compression === 6) {
    const stride = Math.floor((bpp * width + 31) / 32) * 4;
    const pixelEnd = pixels + stride * height;
    if (pixelEnd > b.length) return fail(`the file is too short for ${width}×${height} pixels`);
    end = Math.max(pixelEnd, dib === 124 ? profileEnd(b) : 0);
    // Writers round the file size up to 4 bytes; more than that after the pixels is not image data.
    if (declared !== b.length || b.length - end > 3) return trailing('BMP', b.length - end);
  } else if (declared !== b.length) {
    return trailing('BMP', b.length - declared);
  }
  return { format: 'bmp', contentType: 'image/bmp', width, height };
}

/** End of a BITMAPV5HEADER's embedded colour profile, 0 when it has none. */
function profileEnd(b: Buffer): number {
  const offset = b.readUInt32LE(14 + 112);
  const size = b.readUInt32LE(14 + 116);
  return b.readUInt32LE(14 + 56) === 0x4d424544 && size > 0 ? 14 + offset + size : 0; // 'MBED'
}
