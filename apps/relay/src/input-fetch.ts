import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { type FileStorage, type StoredFile, TooLargeError } from './storage/local.js';
import { UrlRefusedError } from './url-guard.js';

/** Why a URL input could not be copied; `code` is stable and becomes the job's error code. */
export class InputFetchError extends Error {
  override name = 'InputFetchError' as const;
  constructor(
    readonly code: 'url_not_allowed' | 'input_unreachable' | 'input_too_large' | 'input_timeout' | 'canceled',
    message: string,
  ) {
    super(message);
  }
}

export interface FetchInputOptions {
  /** The relay's guarded fetch: every hop, redirects included, passes the URL guard. */
  fetch: typeof fetch;
  storage: FileStorage;
  /** Largest body kept, in bytes; a longer one is cut off and refused. */
  maxBytes: number;
  /** Wall-clock limit of the whole download, in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Downloads a URL input once into the relay's storage under `key`. The relay then measures these
 * bytes and gives the provider a signed link to them, so what is billed is what was measured
 * (relay-findings H1: a server could otherwise show the relay's probe a short file and the
 * provider a long one).
 */
export async function fetchInputToStorage(
  url: string,
  key: string,
  options: FetchInputOptions,
): Promise<StoredFile> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const why = (error: unknown): InputFetchError => {
    if (error instanceof InputFetchError) return error;
    if (error instanceof UrlRefusedError) return new InputFetchError('url_not_allowed', error.message);
    if (error instanceof TooLargeError) {
      return new InputFetchError(
        'input_too_large',
        `is larger than ${Math.round(options.maxBytes / 1048576)} MB, the most the relay takes; use a shorter or smaller file.`,
      );
    }
    if (options.signal?.aborted)
      return new InputFetchError('canceled', 'was not fetched: the job was canceled.');
    if (timeout.aborted) {
      return new InputFetchError(
        'input_timeout',
        `did not download within ${Math.round(options.timeoutMs / 1000)} s; upload the file instead.`,
      );
    }
    return new InputFetchError(
      'input_unreachable',
      `could not be downloaded (${error instanceof Error ? error.message : String(error)}); check that it is public, or upload the file instead.`,
    );
  };
  let response: Response;
  try {
    response = await options.fetch(url, { signal, redirect: 'follow' });
  } catch (error) {
    throw why(error);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new InputFetchError(
      'input_unreachable',
      `answered HTTP ${response.status}; check that the link is public and still valid, or upload the file instead.`,
    );
  }
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw why(new TooLargeError(options.maxBytes));
  }
  try {
    return await options.storage.write(key, Readable.fromWeb(response.body as ReadableStream<Uint8Array>), {
      maxBytes: options.maxBytes,
      signal,
      durable: false,
    });
  } catch (error) {
    throw why(error);
  }
}
