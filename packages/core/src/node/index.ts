import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Client, UploadedFile } from '../client.js';
import { InvalidRequestError } from '../errors.js';
import type { FetchLike } from '../transport.js';

/** Options of {@link createKeepAliveAgent}. Durations in milliseconds. */
export interface KeepAliveOptions {
  /** Idle time a pooled connection is kept, in ms. Default 30 000 ms. */
  keepAliveTimeoutMs?: number;
  /** Connections per origin. Default 8. */
  connections?: number;
  /** Time to open a connection, in ms. Default 10 000 ms. */
  connectTimeoutMs?: number;
}

/**
 * An undici `Agent` that keeps connections to the provider open between polls (one TLS handshake
 * per connection instead of per query). Close it with `await agent.close()`.
 */
export function createKeepAliveAgent(options: KeepAliveOptions = {}): Agent {
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    keepAliveMaxTimeout: Math.max(options.keepAliveTimeoutMs ?? 30_000, 60_000),
    connections: options.connections ?? 8,
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
  });
}

/**
 * A `fetch` bound to a keep-alive agent, for `createClient({ fetch })`. Uses undici's own fetch
 * so the agent and fetch always come from the same undici version.
 *
 * @example
 * const { fetch, close } = createKeepAliveFetch();
 * const client = createClient({ provider: 'dashscope', apiKey, fetch });
 * // … later
 * await close();
 */
export function createKeepAliveFetch(options: KeepAliveOptions = {}): {
  fetch: FetchLike;
  agent: Agent;
  close: () => Promise<void>;
} {
  const agent = createKeepAliveAgent(options);
  const fetch: FetchLike = (input, init) => {
    // undici's fetch does not recognise the global FormData (a different undici copy inside
    // Node) and would send "[object FormData]"; multipart uploads are one-off requests anyway,
    // so they go through the global fetch, which streams file-backed Blobs.
    if (init?.body instanceof FormData) return globalThis.fetch(input, init);
    return undiciFetch(input, { ...(init as object), dispatcher: agent } as Parameters<
      typeof undiciFetch
    >[1]) as unknown as Promise<Response>;
  };
  return { fetch, agent, close: () => agent.close() };
}

/** MIME types by file extension, for the inputs VideoRetalk accepts. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mov': 'video/quicktime',
  '.avi': 'video/x-msvideo',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.aac': 'audio/aac',
  '.m4a': 'audio/mp4',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
};

/** The MIME type for a path from its extension (`application/octet-stream` when unknown). */
export function contentTypeFor(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Options of {@link uploadFilePath}. */
export interface UploadFilePathOptions {
  /** MIME type. Default: from the extension. */
  contentType?: string;
  /** Stored name. Default: the path's base name. */
  filename?: string;
  /** Aborts the upload (code `aborted`). Default none. */
  signal?: AbortSignal;
}

/**
 * Uploads a local file through the client's provider storage without reading it into memory
 * (a file-backed Blob). Returns the URL to submit.
 *
 * @example
 * const audio = await uploadFilePath(client, './speech.wav');
 * await client.run({ video, audio: audio.url });
 */
export async function uploadFilePath(
  client: Pick<Client, 'uploadFile'>,
  path: string,
  options: UploadFilePathOptions = {},
): Promise<UploadedFile> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new InvalidRequestError(`Cannot read ${path}: ${(cause as Error).message}`, {
      field: 'path',
      allowed: 'a readable local file',
      cause,
    });
  }
  if (!info.isFile()) {
    throw new InvalidRequestError(`${path} is not a file`, {
      field: 'path',
      allowed: 'a readable local file',
    });
  }
  const contentType = options.contentType ?? contentTypeFor(path);
  const blob = await openAsBlob(path, { type: contentType });
  return client.uploadFile(blob, {
    filename: options.filename ?? basename(path),
    contentType,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
