import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.js';
import { createMemberAuth } from './auth.js';
import type { RelayConfig } from './config.js';
import type { RateLimiter } from './rate-limit.js';
import type { MemberRecord, RelayStore } from './store/types.js';

/**
 * The member routes' sign-in: the member a request's Bearer token names, or the matching refusal
 * (401 with what to do, or 429 when an address keeps failing or a member sends too much). Failed
 * sign-ins are logged with the address and the reason, never the token (findings L3).
 */
export function createSignIn(deps: {
  store: RelayStore;
  config: Pick<RelayConfig, 'rateLimitPerMinute'>;
  memberLimiter: RateLimiter;
  authFailureLimiter: RateLimiter;
}): (request: FastifyRequest, reply: FastifyReply) => Promise<MemberRecord> {
  const authenticate = createMemberAuth(deps.store);
  const { memberLimiter, authFailureLimiter, config } = deps;
  return async function requireMember(request: FastifyRequest, reply: FastifyReply): Promise<MemberRecord> {
    const auth = await authenticate(request.headers.authorization);
    if (!auth.ok) {
      const wait = await authFailureLimiter.hit(request.ip);
      // Attributable, never the token itself (findings L3).
      request.log.warn(
        { remoteAddress: request.ip, reason: auth.reason, limited: wait > 0 },
        'failed sign-in',
      );
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw new ApiError(
          429,
          'rate_limited',
          'Too many failed sign-ins from this address; wait a minute.',
          {
            retryAfterMs: wait,
          },
        );
      }
      const messages = {
        missing:
          'Sign in: send your member token as "Authorization: Bearer rtk_…" (ask your relay admin for one).',
        malformed:
          'The Authorization header is not "Bearer rtk_…" with a valid member token; copy the token again.',
        unknown:
          'This member token is not known to the relay; check it or ask your relay admin for a new one.',
        revoked: 'This member token was revoked; ask your relay admin for a new one.',
      } as const;
      reply.header('www-authenticate', 'Bearer realm="retalk"');
      throw new ApiError(401, 'unauthorized', messages[auth.reason]);
    }
    const wait = await memberLimiter.hit(auth.member.id);
    if (wait > 0) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      throw new ApiError(
        429,
        'rate_limited',
        `Too many requests; the limit is ${config.rateLimitPerMinute} a minute. Wait and retry.`,
        {
          retryAfterMs: wait,
        },
      );
    }
    return auth.member;
  };
}
