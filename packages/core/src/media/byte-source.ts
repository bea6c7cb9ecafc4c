import { BlobSource, BufferSource, type Source } from 'mediabunny';

/**
 * Random access to the bytes of one file: what the probe's guards read before any parser sees the
 * file, and the mediabunny `Source` that parsers and the executor read through.
 */
export interface ByteSource {
  /** Size in bytes. */
  readonly size: number;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** A fresh mediabunny `Source` over the same bytes. */
  toSource(): Source;
}

/** What the media functions read: a Blob/File, bytes in memory, or a {@link ByteSource}. */
export type MediaInput = Blob | ArrayBuffer | Uint8Array | ByteSource;

/** A {@link ByteSource} over a Blob (a `File` in a browser) or bytes in memory. */
export function toByteSource(input: MediaInput): ByteSource {
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    return {
      size: input.size,
      read: async (offset, length) =>
        new Uint8Array(await input.slice(offset, Math.min(input.size, offset + length)).arrayBuffer()),
      toSource: () => new BlobSource(input),
    };
  }
  if (input instanceof ArrayBuffer || input instanceof Uint8Array) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    return {
      size: bytes.byteLength,
      read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)),
      toSource: () => new BufferSource(bytes),
    };
  }
  return input as ByteSource;
}
