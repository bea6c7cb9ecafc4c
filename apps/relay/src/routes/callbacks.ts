import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import type { RelayContext } from '../app.js';

const ParamsSchema = z.object({ token: z.string() });

/**
 * Provider callbacks (EvoLink `callback_url`) at an unguessable per-job URL. The body is unsigned,
 * so it is never trusted: the callback only wakes the tracker, which re-reads the task upstream.
 */
export function registerCallbackRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Read and ignore any body (bounded by bodyLimit); only the URL matters.
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
    scope.post('/v1/callbacks/:token', async (request, reply) => {
      const token = ParamsSchema.parse(request.params).token;
      const job = /^[A-Za-z0-9_-]{32}$/.test(token) ? ctx.store.getJobByCallbackToken(token) : undefined;
      if (!job) throw new ApiError(404, 'not_found', 'Unknown callback URL.');
      ctx.tracker.wake(job.id);
      return reply.code(204).send();
    });
  });
}
