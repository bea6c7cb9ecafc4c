import { JOB_STATUSES } from '@retalk/core/status';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api-error.js';
import { bearerMatches } from '../auth.js';
import type { RelayContext } from '../context.js';
import { providersOf } from '../pool-media.js';

/** With RETALK_METRICS_TOKEN set, `/metrics` answers only to that Bearer token. */
async function requireMetricsToken(
  ctx: RelayContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const token = ctx.config.metricsToken;
  if (token === undefined || bearerMatches(token, request.headers.authorization)) return;
  const wait = await ctx.authFailureLimiter.hit(`metrics:${request.ip}`);
  if (wait > 0) {
    reply.header('retry-after', String(Math.ceil(wait / 1000)));
    throw new ApiError(429, 'rate_limited', 'Too many failed metrics sign-ins; wait a minute.', {
      retryAfterMs: wait,
    });
  }
  reply.header('www-authenticate', 'Bearer realm="retalk-metrics"');
  throw new ApiError(
    401,
    'unauthorized',
    '/metrics needs "Authorization: Bearer <RETALK_METRICS_TOKEN>" (configure your scraper with the token the relay admin set).',
    { field: 'authorization' },
  );
}

export function registerHealthRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async () => {
    try {
      await ctx.store.getMeta('signing_secret');
      await ctx.storage.size('uploads/readyz-probe');
    } catch {
      throw new ApiError(503, 'not_ready', 'The relay cannot reach its store or storage yet.');
    }
    return {
      ok: true,
      provider: ctx.config.provider,
      providers: providersOf(ctx.config),
      simulator: ctx.config.simulator,
      tracker: ctx.tracker.stats(),
    };
  });

  app.get('/metrics', async (request, reply) => {
    await requireMetricsToken(ctx, request, reply);
    const byStatus = await ctx.store.countJobsByStatus();
    const text = await ctx.metrics.render([
      {
        name: 'retalk_jobs',
        help: 'Jobs in the store, by status',
        values: JOB_STATUSES.map((status) => ({
          labels: { status },
          value: byStatus[status] ?? 0,
        })),
      },
      {
        name: 'retalk_storage_bytes',
        help: 'Bytes stored (uploads and results)',
        values: [{ labels: {}, value: await ctx.storage.bytesStored() }],
      },
      {
        name: 'retalk_sse_connections',
        help: 'Open event streams',
        values: [{ labels: {}, value: ctx.bus.connections() }],
      },
      {
        name: 'retalk_tracked_jobs',
        help: 'Jobs followed upstream',
        values: [{ labels: {}, value: ctx.tracker.stats().inFlight }],
      },
      {
        name: 'retalk_upstream_in_flight',
        help: 'Jobs this relay has upstream, by pool upstream',
        values: ctx.upstreams
          .views(ctx.now())
          .map((u) => ({ labels: { upstream: u.name }, value: u.inFlight })),
      },
      {
        name: 'retalk_upstream_healthy',
        help: 'Whether a pool upstream takes jobs (1) or is resting after failures (0)',
        values: ctx.upstreams
          .views(ctx.now())
          .map((u) => ({ labels: { upstream: u.name }, value: u.health === 'healthy' ? 1 : 0 })),
      },
      {
        name: 'retalk_queued_jobs',
        help: "Jobs waiting in the relay's submit queue",
        values: [{ labels: {}, value: ctx.tracker.stats().queued }],
      },
    ]);
    return reply.type(ctx.metrics.contentType).send(text);
  });
}
