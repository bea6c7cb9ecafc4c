import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import type { RelayContext } from '../context.js';
import { sendStoredFile } from '../file-response.js';
import { sendResult } from './jobs.js';

const SignedQuerySchema = z.object({ exp: z.string().optional(), sig: z.string().optional() }).passthrough();
const ParamsSchema = z.object({ id: z.string() });

function verify(ctx: RelayContext, request: FastifyRequest, path: string): void {
  const query = SignedQuerySchema.safeParse(request.query);
  const q = query.success ? query.data : {};
  const verdict = ctx.signer.verify(path, q.exp, q.sig);
  if (verdict === 'expired') {
    throw new ApiError(403, 'link_expired', 'This link has expired; ask the relay for a new one.');
  }
  if (verdict !== 'ok')
    throw new ApiError(403, 'forbidden', 'This link is not valid; ask the relay for a new one.');
}

/**
 * Signed, expiring file links: uploads for the provider to fetch, results for browser downloads.
 * No Authorization header is needed; the HMAC over path + expiry is the permission.
 */
export function registerFileRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/files/uploads/:id',
    handler: async (request, reply) => {
      const id = ParamsSchema.parse(request.params).id;
      verify(ctx, request, `/files/uploads/${id}`);
      const upload = await ctx.store.getUpload(id);
      const size = upload ? await ctx.storage.size(upload.storageKey) : undefined;
      if (!upload || size === undefined)
        throw new ApiError(404, 'not_found', 'This file is no longer kept by the relay.');
      return sendStoredFile(request, reply, {
        path: ctx.storage.pathOf(upload.storageKey),
        size,
        contentType: upload.contentType,
      });
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/files/results/:id',
    handler: async (request, reply) => {
      const id = ParamsSchema.parse(request.params).id;
      verify(ctx, request, `/files/results/${id}`);
      const job = await ctx.store.getJob(id);
      if (!job) throw new ApiError(404, 'not_found', 'This result is no longer kept by the relay.');
      return sendResult(ctx, request, reply, job);
    },
  });
}
