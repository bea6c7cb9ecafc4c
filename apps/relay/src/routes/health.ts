import type { FastifyInstance } from 'fastify';
import { ApiError } from '../api-error.js';
import type { RelayContext } from '../app.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async () => {
    try {
      ctx.store.getMeta('signing_secret');
      await ctx.storage.size('uploads/readyz-probe');
    } catch {
      throw new ApiError(503, 'not_ready', 'The relay cannot reach its store or storage yet.');
    }
    return {
      ok: true,
      provider: ctx.config.provider,
      simulator: ctx.config.simulator,
      tracker: ctx.tracker.stats(),
    };
  });

  app.get('/metrics', async (_request, reply) => {
    const byStatus = ctx.store.countJobsByStatus();
    const text = ctx.metrics.render([
      {
        name: 'retalk_jobs',
        help: 'Jobs in the store, by status',
        values: ['received', 'submitted', 'queued', 'running', 'succeeded', 'failed', 'canceled'].map(
          (status) => ({
            labels: { status },
            value: byStatus[status] ?? 0,
          }),
        ),
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
        name: 'retalk_queued_jobs',
        help: "Jobs waiting in the relay's submit queue",
        values: [{ labels: {}, value: ctx.tracker.stats().queued }],
      },
    ]);
    return reply.type('text/plain; version=0.0.4').send(text);
  });
}
