import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import type { InputFailure } from './media-limits.js';
import { outbound } from './outbound.js';
import type { Shutdown } from './shutdown.js';

export interface FetchedFile {
  path: string;
  /** Bytes received; larger than `maxBytes` when the download was cut off for being too big. */
  sizeBytes: number;
  /** SHA-256 of the bytes received, hex. */
  sha256: string;
  contentType?: string;
}

export interface DownloadOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Aborts the download when the simulator closes. */
  shutdown: Shutdown;
}

export function connectionRefused(url: string, detail?: string): InputFailure {
  return {
    code: 'InvalidURL.ConnectionRefused',
    message: `Connection to ${url} refused, please provide avaiable URL${detail ? ` (${detail})` : ''}`,
  };
}

export function downloadTimeout(url: string): InputFailure {
  return { code: 'InvalidURL.Timeout', message: `Download ${url} timeout, please check network connection.` };
}

/**
 * GETs an input URL into `dest` as the real service downloads its inputs: a refused or failing
 * connection gives InvalidURL.ConnectionRefused, a download slower than `timeoutMs` (60 s
 * upstream) gives InvalidURL.Timeout. Stops reading one byte past `maxBytes`. Leaves no file
 * behind when it fails.
 */
export async function downloadToFile(
  url: string,
  dest: string,
  options: DownloadOptions,
): Promise<FetchedFile | InputFailure> {
  const controller = options.shutdown.link();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  try {
    const res = await outbound(url, { method: 'GET', signal: controller.signal });
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      res.destroy();
      return connectionRefused(url, `HTTP ${status}`);
    }
    const handle = await open(dest, 'w');
    const hash = createHash('sha256');
    let sizeBytes = 0;
    try {
      for await (const chunk of res) {
        const buf = chunk as Buffer;
        sizeBytes += buf.length;
        hash.update(buf);
        await handle.write(buf);
        if (sizeBytes > options.maxBytes) {
          res.destroy();
          break;
        }
      }
    } finally {
      await handle.close();
    }
    const contentType = res.headers['content-type'];
    const sha256 = hash.digest('hex');
    return contentType ? { path: dest, sizeBytes, sha256, contentType } : { path: dest, sizeBytes, sha256 };
  } catch (error) {
    await rm(dest, { force: true }).catch(() => {});
    if (timedOut) return downloadTimeout(url);
    return connectionRefused(url, error instanceof Error ? (causeCode(error) ?? error.message) : undefined);
  } finally {
    clearTimeout(timer);
    controller.release();
  }
}

function causeCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function isInputFailure(x: FetchedFile | InputFailure): x is InputFailure {
  return 'code' in x;
}
