import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../api-error.js';
import type { RelayContext } from '../context.js';

const ParamsSchema = z.object({ token: z.string() });

/** A callback body is never used; a provider's is a few hundred bytes. */
const CALLBACK_MAX_BYTES = 64 * 1024;

/** Reads and drops a body; false once it grows past `maxBytes`. */
async function discardBody(body: IncomingMessage, maxBytes: number): Promise<boolean> {
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) return false;
  }
  return true;
}

/**
 * Provider callbacks (EvoLink `callback_url`) at an unguessable per-job URL. The body is unsigned,
 * so it is never trusted: the callback only wakes the tracker, which re-reads the task upstream.
 * The token is checked before a byte of the body is read, so a stranger's slow body costs nothing
 * (findings M1); a refused callback's connection is closed by the error handler.
 */
export function registerCallbackRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.post('/v1/callbacks/:token', async (request, reply) => {
      const token = ParamsSchema.parse(request.params).token;
      const job = /^[A-Za-z0-9_-]{32}$/.test(token)
        ? await ctx.store.getJobByCallbackToken(token)
        : undefined;
      if (!job) throw new ApiError(404, 'not_found', 'Unknown callback URL.');
      if (!(await discardBody(request.raw, CALLBACK_MAX_BYTES))) {
        throw new ApiError(
          413,
          'payload_too_large',
          `A callback body may be at most ${CALLBACK_MAX_BYTES} bytes.`,
        );
      }
      ctx.tracker.wake(job.id);
      return reply.code(204).send();
    });
  });
}
