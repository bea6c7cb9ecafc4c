import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';
import type { Metrics } from './metrics.js';

// How the relay answers what went wrong: its own ApiErrors as they are, Fastify's own errors mapped
// to stable codes and plain sentences, anything else as a 500 with a request id (never its text);
// every body scrubbed of the provider key, and every answer counted.

const FASTIFY_ERRORS: Record<string, { status: number; code: ApiError['code']; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'This endpoint takes "Content-Type: application/json".',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: 'payload_too_large',
    message: 'The request body is too large.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'The body is empty; send a JSON object (or drop the Content-Type header).',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: 'invalid_json',
    message: 'The body is not valid JSON.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: 'invalid_request',
    message: 'Content-Length does not match the body that was sent.',
  },
  FST_ERR_CTP_INVALID_TYPE: {
    status: 415,
    code: 'unsupported_media_type',
    message: 'The Content-Type header is not valid.',
  },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_request', message: 'The request URL is not valid.' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'invalid_request', message: 'The request is not valid.' },
};

/**
 * A refused request whose body was never read (an upload, a callback, an unknown route): answer with
 * `Connection: close` so Node closes the socket after the answer, instead of draining an unbounded
 * body to keep the connection alive (findings M1: a 401 kept accepting a drip for 40 s).
 */
export function closeIfBodyUnread(request: FastifyRequest, reply: FastifyReply): void {
  if (!request.raw.complete) reply.header('connection', 'close');
}

export function installErrorHandling(
  app: FastifyInstance,
  scrub: (s: string) => string,
  metrics: Metrics,
): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    let api: ApiError;
    if (error instanceof ApiError) {
      api = error;
    } else {
      const e = error as { code?: string; statusCode?: number; message?: string; name?: string };
      const known = e.code ? FASTIFY_ERRORS[e.code] : undefined;
      if (known) {
        api = new ApiError(known.status, known.code, known.message);
      } else if (e.name === 'SyntaxError' || e.code?.startsWith('FST_ERR_CTP')) {
        api = new ApiError(400, 'invalid_json', 'The body is not valid JSON.');
      } else if (e.code?.startsWith('SQLITE_BUSY')) {
        // Another process (a CLI, a backup) holds the database past the busy timeout: nothing was
        // written, so the client can safely retry.
        reply.header('retry-after', '2');
        api = new ApiError(
          503,
          'not_ready',
          "The relay's database is busy (locked by another process); nothing was saved. Retry in a few seconds.",
          { retryAfterMs: 2_000 },
        );
      } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
        api = new ApiError(
          e.statusCode,
          e.statusCode === 413 ? 'payload_too_large' : 'invalid_request',
          scrub(e.message ?? 'Bad request.'),
        );
      } else {
        request.log.error({ err: error }, 'unhandled error');
        api = new ApiError(
          500,
          'internal',
          'The relay hit an unexpected error; try again, and tell your relay admin if it persists.',
        );
      }
    }
    if (api.statusCode >= 500 && !(error instanceof ApiError)) metrics.inc('retalk_internal_errors_total');
    closeIfBodyUnread(request, reply);
    reply
      .code(api.statusCode)
      .type('application/json')
      .send(api.toBody(String(request.id)));
  });
  app.setNotFoundHandler((request, reply) => {
    const route = `${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`;
    closeIfBodyUnread(request, reply);
    reply
      .code(404)
      .type('application/json')
      .send(
        new ApiError(
          404,
          'not_found',
          `There is no ${route} on this relay; see the API in the relay's README.`,
        ).toBody(String(request.id)),
      );
  });
  app.addHook('onSend', async (_request, _reply, payload) =>
    typeof payload === 'string' ? scrub(payload) : payload,
  );
  app.addHook('onResponse', async (request, reply) => {
    metrics.inc('retalk_http_requests_total', {
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
}
