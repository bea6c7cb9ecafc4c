// How an upload body reaches the relay: XMLHttpRequest in a page (the only way to see upload
// progress there), a streamed fetch in Node and workers.

/** Bytes sent so far of an upload body. */
export interface UploadProgress {
  loadedBytes: number;
  totalBytes: number;
}

/** What an upload transport is asked to send. */
export interface RelayUploadRequest {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  body: Blob | Uint8Array;
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What an upload transport returns: the HTTP status and the body as text. */
export interface RelayTransportResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/**
 * Sends an upload body and reports progress. Browsers need `XMLHttpRequest` for upload progress;
 * pass your own (e.g. a test fake) or let the client pick XHR when available and fetch otherwise.
 */
export type RelayUploadTransport = (request: RelayUploadRequest) => Promise<RelayTransportResponse>;

export function defaultUploadTransport(doFetch: typeof fetch): RelayUploadTransport {
  return (request) =>
    typeof XMLHttpRequest !== 'undefined' ? xhrUpload(request) : fetchUpload(doFetch, request);
}

function xhrUpload(request: RelayUploadRequest): Promise<RelayTransportResponse> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const total = request.body instanceof Uint8Array ? request.body.byteLength : request.body.size;
    const onAbort = () => xhr.abort();
    xhr.open(request.method, request.url);
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) =>
      request.onProgress?.({
        loadedBytes: event.loaded,
        totalBytes: event.lengthComputable ? event.total : total,
      });
    xhr.onload = () => {
      request.signal?.removeEventListener('abort', onAbort);
      request.onProgress?.({ loadedBytes: total, totalBytes: total });
      const headers: Record<string, string> = {};
      const retryAfter = xhr.getResponseHeader('retry-after');
      if (retryAfter) headers['retry-after'] = retryAfter;
      resolve({ status: xhr.status, body: xhr.responseText, headers });
    };
    xhr.onerror = () => {
      request.signal?.removeEventListener('abort', onAbort);
      reject(new TypeError('XMLHttpRequest network error'));
    };
    xhr.onabort = () => reject(request.signal?.reason ?? new DOMException('Aborted', 'AbortError'));
    if (request.signal?.aborted) {
      reject(request.signal.reason);
      return;
    }
    request.signal?.addEventListener('abort', onAbort, { once: true });
    request.onProgress?.({ loadedBytes: 0, totalBytes: total });
    // XHR takes ArrayBuffer views; copy only when the view is not a plain ArrayBuffer-backed one.
    xhr.send(
      request.body instanceof Uint8Array ? new Blob([request.body as Uint8Array<ArrayBuffer>]) : request.body,
    );
  });
}

const FETCH_UPLOAD_CHUNK_BYTES = 256 * 1024;

async function fetchUpload(
  doFetch: typeof fetch,
  request: RelayUploadRequest,
): Promise<RelayTransportResponse> {
  const total = request.body instanceof Uint8Array ? request.body.byteLength : request.body.size;
  let body: BodyInit = request.body as Blob | Uint8Array<ArrayBuffer>;
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method,
    // fetch sets Content-Length itself for Blob and bytes, and streams the progress-reporting body chunked.
    headers: request.headers,
    signal: request.signal ?? null,
  };
  request.onProgress?.({ loadedBytes: 0, totalBytes: total });
  if (request.onProgress && request.body instanceof Uint8Array && isNode()) {
    // Streamed so progress follows the bytes actually pulled by the connection. Node only: browsers
    // stream request bodies over HTTP/2 alone (and use XMLHttpRequest above when they have it).
    const bytes = request.body;
    let offset = 0;
    const onProgress = request.onProgress;
    body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.byteLength) {
          controller.close();
          return;
        }
        const end = Math.min(offset + FETCH_UPLOAD_CHUNK_BYTES, bytes.byteLength);
        controller.enqueue(bytes.subarray(offset, end));
        offset = end;
        onProgress({ loadedBytes: offset, totalBytes: total });
      },
    });
    init.duplex = 'half';
  }
  init.body = body;
  const response = await doFetch(request.url, init);
  const text = await response.text();
  request.onProgress?.({ loadedBytes: total, totalBytes: total });
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { status: response.status, body: text, headers };
}

function isNode(): boolean {
  return (
    typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node ===
    'string'
  );
}
