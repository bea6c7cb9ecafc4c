import { MEDIA_LIMITS } from '@retalk/core';
import type { FastifyInstance } from 'fastify';
import { budgetOf } from '../budget.js';
import { RELAY_VERSION, type RelayContext, signedInMember } from '../context.js';
import { uploadMaxBytes } from './uploads.js';

export function registerMeRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/v1/me', async (request, _reply) => {
    const member = signedInMember(request);
    const limits = MEDIA_LIMITS[ctx.config.provider];
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
      simulator: ctx.config.simulator,
      activeJobs: await ctx.store.countActiveJobs(member.id),
      limits: { video: { ...limits.video }, audio: { ...limits.audio }, image: { ...limits.image } },
      uploadMaxBytes: maxBytes,
      storage: await storageOf(ctx, member.id),
      canCancel: ctx.client.capabilities.cancel !== 'never',
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
