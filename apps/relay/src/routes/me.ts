import type { FastifyInstance } from 'fastify';
import { budgetOf } from '../budget.js';
import { RELAY_VERSION, type RelayContext, signedInMember } from '../context.js';
import { mediaLimitsOf, providersOf } from '../pool-media.js';
import { uploadMaxBytes } from './uploads.js';

export function registerMeRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/v1/me', async (request, _reply) => {
    const member = signedInMember(request);
    // With a mixed pool: what every provider accepts (pool-media.ts).
    const limits = mediaLimitsOf(ctx.config);
    const maxBytes = uploadMaxBytes(ctx.config);
    return {
      member: {
        id: member.id,
        name: member.name,
        createdAt: new Date(member.createdAt).toISOString(),
        maxConcurrentJobs: member.maxConcurrentJobs ?? ctx.config.defaultMaxConcurrentJobs,
      },
      budget: await budgetOf(ctx.store, member, ctx.now()),
      provider: ctx.config.provider,
      providers: providersOf(ctx.config),
      simulator: ctx.config.simulator,
      activeJobs: await ctx.store.countActiveJobs(member.id),
      limits: { video: { ...limits.video }, audio: { ...limits.audio }, image: { ...limits.image } },
      uploadMaxBytes: maxBytes,
      storage: await storageOf(ctx, member.id),
      canCancel: ctx.upstreams.upstreams.some((u) => u.client.capabilities.cancel !== 'never'),
      relayVersion: RELAY_VERSION,
    };
  });
}

/** The member's kept uploads against the quota (findings M4). */
async function storageOf(ctx: RelayContext, memberId: string) {
  const usage = await ctx.store.uploadUsage(memberId, ctx.now());
  return {
    usedBytes: usage.bytes,
    limitBytes: ctx.config.memberStorageBytes,
    uploads: usage.count,
    maxUploads: ctx.config.memberMaxUploads,
  };
}
