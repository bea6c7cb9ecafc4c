import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError, fromZodError } from '../api-error.js';
import { isAdmin } from '../auth.js';
import { budgetOf } from '../budget.js';
import type { RelayContext } from '../context.js';
import { createMember } from '../members.js';
import { describeUpstreams, upstreamStatuses } from '../upstream-status.js';
import { endMemberStreams } from './events.js';

export const MemberNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, {
    error: 'name may hold letters, digits and . _ @ - (start with a letter or digit)',
  });

const CreateMemberSchema = z
  .object({
    name: MemberNameSchema,
    budgetSeconds: z.number().positive().max(1e9).optional(),
    period: z.enum(['day', 'month']).optional(),
    maxConcurrentJobs: z.number().int().min(1).max(1000).optional(),
  })
  .strict();

export async function requireAdmin(ctx: RelayContext, request: FastifyRequest): Promise<void> {
  if (!ctx.config.adminToken) {
    throw new ApiError(
      403,
      'forbidden',
      'Admin routes are off: set RETALK_ADMIN_TOKEN, or use the retalk-relay CLI on the server.',
    );
  }
  if (!isAdmin(ctx.config.adminToken, request.headers.authorization)) {
    const wait = await ctx.authFailureLimiter.hit(`admin:${request.ip}`);
    if (wait > 0)
      throw new ApiError(429, 'rate_limited', 'Too many failed admin sign-ins; wait a minute.', {
        retryAfterMs: wait,
      });
    throw new ApiError(
      401,
      'unauthorized',
      'Admin routes need "Authorization: Bearer <RETALK_ADMIN_TOKEN>".',
    );
  }
}

/** Member management with the admin token (the same as the CLI, over HTTP). */
export function registerAdminRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/admin/members', async (_request) => {
    const now = ctx.now();
    const members = await ctx.store.listMembers();
    return {
      members: await Promise.all(
        members.map(async (m) => ({
          id: m.id,
          name: m.name,
          createdAt: new Date(m.createdAt).toISOString(),
          revokedAt: m.revokedAt === null ? undefined : new Date(m.revokedAt).toISOString(),
          maxConcurrentJobs: m.maxConcurrentJobs,
          budget: await budgetOf(ctx.store, m, now),
        })),
      ),
    };
  });

  // Health, load and last error of every upstream; never a key. Several instances on one database
  // show the health they share (the stored record, as the CLI does), so every instance answers alike;
  // one relay process shows its own live view.
  app.get('/admin/upstreams', async () => ({
    upstreams: await upstreamStatuses(
      ctx.store,
      describeUpstreams(ctx.config),
      ctx.store.cluster ? undefined : ctx.upstreams.views(ctx.now()),
    ),
  }));

  app.post('/admin/members', async (request, reply) => {
    const parsed = CreateMemberSchema.safeParse(request.body);
    if (!parsed.success) throw fromZodError(parsed.error, 'body');
    if (await ctx.store.getMemberByName(parsed.data.name)) {
      throw new ApiError(409, 'conflict', `A member named "${parsed.data.name}" exists; pick another name.`, {
        field: 'name',
      });
    }
    const { member, token } = await createMember(ctx.store, parsed.data, ctx.now());
    return reply.code(201).send({ id: member.id, name: member.name, token });
  });

  app.post('/admin/members/:name/revoke', async (request) => {
    const name = z.object({ name: z.string() }).parse(request.params).name;
    const member = await ctx.store.getMemberByName(name);
    if (!(await ctx.store.revokeMember(name, ctx.now()))) {
      throw new ApiError(404, 'not_found', `No active member named "${name.slice(0, 64)}".`, {
        field: 'name',
      });
    }
    if (member) endMemberStreams(ctx, member.id);
    return { name, revoked: true };
  });
}
