import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface OutboundRequest {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** Redirects to follow (GET only). Default 5. */
  maxRedirects?: number;
}

/**
 * One outbound HTTP(S) request on its own connection (no pooling), so nothing the simulator
 * opened outlives `close()`. Resolves with the response once headers arrive.
 */
export function outbound(url: string, init: OutboundRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      reject(error);
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new TypeError(`unsupported URL scheme ${target.protocol}`));
      return;
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      {
        method: init.method,
        headers: {
          ...init.headers,
          ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }),
        },
        agent: false,
        signal: init.signal,
      },
      (res) => {
        const location = res.headers.location;
        const redirects = init.maxRedirects ?? 5;
        if (
          init.method === 'GET' &&
          location &&
          res.statusCode &&
          res.statusCode >= 300 &&
          res.statusCode < 400
        ) {
          res.resume();
          if (redirects <= 0) {
            reject(new Error('too many redirects'));
            return;
          }
          outbound(new URL(location, target).toString(), { ...init, maxRedirects: redirects - 1 }).then(
            resolve,
            reject,
          );
          return;
        }
        resolve(res);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
