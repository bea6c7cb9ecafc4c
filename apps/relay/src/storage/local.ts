import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../private-files.js';

/** Thrown while writing when the body grows past `maxBytes`; nothing is left behind. */
export class TooLargeError extends Error {
  override name = 'TooLargeError' as const;
  readonly code = 'too_large';
  constructor(readonly maxBytes: number) {
    super(`body is larger than ${maxBytes} bytes`);
  }
}

export interface StoredFile {
  sizeBytes: number;
  sha256: string;
}

/** Files on local disk. Keys are relative paths such as `uploads/upl_x` or `results/job_x.mp4`. */
export interface FileStorage {
  readonly root: string;
  /**
   * Streams `source` to `key` through a temp file and an atomic rename, hashing on the way, so a
   * half-written file is never visible under its key (a crash leaves only a temp file, swept at start).
   */
  write(
    key: string,
    source: Readable,
    options?: { maxBytes?: number; signal?: AbortSignal; durable?: boolean },
  ): Promise<StoredFile>;
  /** Absolute path of a key (for probes and streaming reads). */
  pathOf(key: string): string;
  /** A fresh path in the temp area, for a file another process writes (a conform's output); swept at start. */
  tempPath(): string;
  /** Moves a finished file from `tempPath()` under `key` (one rename: it appears whole or not at all). */
  adopt(key: string, fromPath: string): Promise<void>;
  size(key: string): Promise<number | undefined>;
  remove(key: string): Promise<void>;
  /**
   * Takes a file away from its key at once (a rename) and deletes it in the background: unlinking a
   * large file that is still in the page cache takes hundreds of milliseconds (about 0.4 s per GiB
   * here), which a rejected upload should not make its client wait for. Leftovers of a crash are
   * swept at the next start.
   */
  discard(key: string): Promise<void>;
  /**
   * Several instances on one volume: deletes the temp and trash files this instance left when it
   * stopped last (they carry its name); other instances' are deleted once untouched for an hour.
   */
  sweepLeftovers(): Promise<void>;
  /** Total bytes stored (walks the tree; for metrics). */
  bytesStored(): Promise<number>;
}

const KEY_PATTERN = /^(uploads|results)\/[A-Za-z0-9_-]{1,80}(\.[a-z0-9]{1,5})?$/;

/** Leftovers of other instances on a shared volume are deleted once untouched this long. */
const FOREIGN_LEFTOVER_AGE_MS = 3_600_000;

export function createLocalStorage(
  root: string,
  options: {
    /**
     * Several instances share the volume: the name of this one, known once it listens. Temp and
     * trash files then start with it, nothing is swept at creation (a file there may be another
     * live instance's upload in progress), and {@link FileStorage.sweepLeftovers} sweeps instead.
     */
    instance?: (() => string) | undefined;
  } = {},
): FileStorage {
  const tmpDir = path.join(root, '.tmp');
  const trashDir = path.join(root, '.trash');
  ensurePrivateDir(root);
  for (const dir of [tmpDir, trashDir, path.join(root, 'uploads'), path.join(root, 'results')]) {
    ensurePrivateDir(dir);
  }
  // Leftovers of writes (or discards) interrupted by a crash: never served under a key; delete them.
  if (!options.instance) {
    for (const dir of [tmpDir, trashDir]) {
      for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true });
    }
  }
  const scratchName = (suffix: string) =>
    `${options.instance ? `${options.instance()}~` : ''}${randomBytes(12).toString('hex')}${suffix}`;

  function pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
    return path.join(root, key);
  }

  return {
    root,
    pathOf,
    tempPath: () => path.join(tmpDir, scratchName('.part')),
    async adopt(key, fromPath) {
      await fsp.rename(fromPath, pathOf(key));
    },
    async write(key, source, options = {}) {
      const finalPath = pathOf(key);
      const tmpPath = path.join(tmpDir, scratchName('.part'));
      const handle = await fsp.open(tmpPath, 'wx', PRIVATE_FILE_MODE);
      const sink = createFileSink(handle, options.maxBytes ?? Number.POSITIVE_INFINITY);
      try {
        await pipeline(source, sink.stream, options.signal ? { signal: options.signal } : {});
        // The rename alone makes the file appear whole or not at all (also after SIGKILL);
        // fsync adds power-loss durability, worth it for results, not for short-lived uploads.
        if (options.durable !== false) await handle.sync();
        await handle.close();
        await fsp.rename(tmpPath, finalPath);
      } catch (error) {
        await handle.close().catch(() => undefined);
        await fsp.rm(tmpPath, { force: true });
        throw error;
      }
      return { sizeBytes: sink.sizeBytes(), sha256: sink.sha256() };
    },
    async sweepLeftovers() {
      if (!options.instance) return;
      const mine = `${options.instance()}~`;
      for (const dir of [tmpDir, trashDir]) {
        for (const name of await fsp.readdir(dir)) {
          const file = path.join(dir, name);
          if (!name.startsWith(mine)) {
            const touched = (await fsp.stat(file).catch(() => undefined))?.mtimeMs;
            if (touched === undefined || Date.now() - touched < FOREIGN_LEFTOVER_AGE_MS) continue;
          }
          await fsp.rm(file, { force: true });
        }
      }
    },
    async size(key) {
      try {
        return (await fsp.stat(pathOf(key))).size;
      } catch {
        return undefined;
      }
    },
    async remove(key) {
      await fsp.rm(pathOf(key), { force: true });
    },
    async discard(key) {
      const trashPath = path.join(trashDir, scratchName('.discarded'));
      try {
        await fsp.rename(pathOf(key), trashPath);
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') return;
        throw error;
      }
      void fsp.rm(trashPath, { force: true }).catch(() => undefined);
    },
    async bytesStored() {
      let total = 0;
      for (const dir of ['uploads', 'results']) {
        for (const name of await fsp.readdir(path.join(root, dir))) {
          total += (await fsp.stat(path.join(root, dir, name)).catch(() => ({ size: 0 }))).size;
        }
      }
      return total;
    },
  };
}

const SINK_BUFFER_BYTES = 1024 * 1024;
const SINK_BUFFERS = 4;
// ext4 serializes buffered writes to one file on the inode lock, so a second write in flight only
// spins on that lock (measured: ~7% of the relay's CPU with three in flight when the page-cache copy
// was slow); the other buffers keep filling meanwhile.
const SINK_MAX_IN_FLIGHT = 1;

/**
 * Writes a stream to an open file through four reusable 1 MiB buffers: each arriving chunk is hashed,
 * counted and copied into the current buffer, and a full buffer goes to the disk as one positional
 * write on the thread pool, overlapping the hashing of the next ones. The chunk callback waits only
 * when no buffer is free. Memory stays at 4 MiB per upload whatever the chunk sizes and the disk do,
 * and Node's 64 KiB body chunks are let go as soon as they are copied (no `Buffer.concat` per write).
 */
function createFileSink(handle: fsp.FileHandle, maxBytes: number) {
  const hash = createHash('sha256');
  const free: Buffer[] = [];
  const ready: { buffer: Buffer; length: number; at: number }[] = [];
  let allocated = 0;
  let current: Buffer | undefined;
  let fill = 0;
  let offset = 0;
  let total = 0;
  let inFlight = 0;
  let failure: Error | undefined;
  // The part of a chunk that did not fit while every buffer was full, and its callback.
  let pending: { rest: Buffer; callback: (error?: Error | null) => void } | undefined;
  let finished: ((error?: Error | null) => void) | undefined;

  const takeBuffer = (): Buffer | undefined => {
    const buffer = free.pop();
    if (buffer) return buffer;
    if (allocated === SINK_BUFFERS) return undefined;
    allocated++;
    return Buffer.allocUnsafeSlow(SINK_BUFFER_BYTES);
  };

  const startWrites = () => {
    while (!failure && inFlight < SINK_MAX_IN_FLIGHT && ready.length > 0) {
      const { buffer, length, at } = ready.shift() as { buffer: Buffer; length: number; at: number };
      inFlight++;
      writeFully(handle, buffer, length, at).then(
        () => settle(buffer),
        (error: Error) => settle(buffer, error),
      );
    }
  };

  const flush = () => {
    ready.push({ buffer: current as Buffer, length: fill, at: offset });
    offset += fill;
    current = undefined;
    fill = 0;
    startWrites();
  };

  /** Copies as much of `chunk` as fits; returns what is left once every buffer is full. */
  const copyIn = (chunk: Buffer): Buffer | undefined => {
    let from = 0;
    while (from < chunk.length) {
      if (!current) {
        current = takeBuffer();
        if (!current) return chunk.subarray(from);
      }
      const copied = chunk.copy(current, fill, from);
      fill += copied;
      from += copied;
      if (fill === SINK_BUFFER_BYTES) flush();
    }
    return undefined;
  };

  const settle = (buffer: Buffer, error?: Error) => {
    inFlight--;
    free.push(buffer);
    if (error && !failure) failure = error;
    startWrites();
    if (pending) {
      const { rest, callback } = pending;
      pending = undefined;
      if (failure) return callback(failure);
      const left = copyIn(rest);
      if (left) pending = { rest: left, callback };
      else callback();
      return;
    }
    if (finished && (failure || (inFlight === 0 && ready.length === 0))) {
      const callback = finished;
      finished = undefined;
      callback(failure);
    }
  };

  const stream = new Writable({
    highWaterMark: SINK_BUFFER_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      if (failure) return callback(failure);
      total += chunk.length;
      if (total > maxBytes) return callback(new TooLargeError(maxBytes));
      hash.update(chunk);
      const left = copyIn(chunk);
      if (left) pending = { rest: left, callback };
      else callback();
    },
    final(callback) {
      if (current && fill > 0) flush();
      if (failure || (inFlight === 0 && ready.length === 0)) callback(failure);
      else finished = callback;
    },
  });
  return { stream, sizeBytes: () => total, sha256: () => hash.digest('hex') };
}

/** One positional write of `length` bytes, continued after a short write. */
async function writeFully(handle: fsp.FileHandle, buffer: Buffer, length: number, at: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, at + done);
    if (bytesWritten <= 0) throw new Error('the disk accepted no bytes');
    done += bytesWritten;
  }
}
