import fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';

/**
 * Streams a stored file with `Accept-Ranges`, answering a single `Range: bytes=a-b` with 206 and an
 * unsatisfiable one with 416. Multiple ranges, and ranges in a unit other than bytes, are answered
 * with the whole file, as RFC 9110 §14.2 allows (and, for unknown units, requires).
 */
export function sendStoredFile(
  request: FastifyRequest,
  reply: FastifyReply,
  file: { path: string; size: number; contentType: string; downloadName?: string | undefined },
): FastifyReply {
  reply.header('accept-ranges', 'bytes');
  reply.header('content-type', file.contentType);
  reply.header('cache-control', 'private, max-age=0');
  reply.header('x-content-type-options', 'nosniff');
  if (file.downloadName) {
    // A title may hold bidi overrides or controls; they must not reach the client's file name (findings L15).
    const name = file.downloadName.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '');
    const ascii = name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || 'result.mp4';
    reply.header(
      'content-disposition',
      `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    );
  }
  let start = 0;
  let end = file.size - 1;
  const range = request.headers.range;
  if (typeof range === 'string' && /^\s*bytes=/i.test(range) && !range.includes(',')) {
    const m = /^bytes=(\d*)-(\d*)$/i.exec(range.trim());
    if (!m || (m[1] === '' && m[2] === '')) {
      reply.header('content-range', `bytes */${file.size}`);
      throw new ApiError(
        416,
        'invalid_request',
        'The Range header is not a single byte range such as bytes=0-1023.',
        {
          field: 'range',
        },
      );
    }
    if (m[1] === '') {
      start = Math.max(0, file.size - Number(m[2]));
    } else {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    }
    if (start > end || start >= file.size) {
      reply.header('content-range', `bytes */${file.size}`);
      throw new ApiError(
        416,
        'invalid_request',
        `The requested range is outside the file (${file.size} bytes).`,
        {
          field: 'range',
        },
      );
    }
    reply.code(206);
    reply.header('content-range', `bytes ${start}-${end}/${file.size}`);
  }
  reply.header('content-length', String(end - start + 1));
  if (request.method === 'HEAD' || file.size === 0) return reply.send('');
  return reply.send(fs.createReadStream(file.path, { start, end }));
}
