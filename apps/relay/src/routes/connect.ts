import { ClaimConnectLinkRequestSchema } from '@retalk/core/relay';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError, fromZodError } from '../api-error.js';
import {
  CONNECT_LINK_MAX_TTL_MS,
  type ConnectLink,
  claimConnectCode,
  createConnectLink,
} from '../connect-links.js';
import { type RelayContext, signedInMember } from '../context.js';
import type { MemberRecord } from '../store/types.js';

const MAX_TTL_MINUTES = CONNECT_LINK_MAX_TTL_MS / 60_000;

/** `{ ttlMinutes? }`: how long the link works (default 30 minutes, at most 7 days). */
export const CreateConnectLinkSchema = z
  .object({ ttlMinutes: z.number().int().min(1).max(MAX_TTL_MINUTES).optional() })
  .strict();

/** The page a connect link opens: it tells the member what to click; the code stays in the fragment. */
const CONNECT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect this browser to Retalk</title>
<style>
  :root { color-scheme: light dark; font: 16px/1.5 system-ui, sans-serif; }
  body { max-width: 36rem; margin: 3rem auto; padding: 0 1rem; }
  li { margin: .5rem 0; }
  .muted { opacity: .75; font-size: .9rem; }
</style>
</head>
<body>
<main>
<h1 id="connect-heading">Connect this browser to your team's Retalk relay</h1>
<ol>
  <li>Install the Retalk extension in this browser, if it is not there yet.</li>
  <li>Click the <strong>Retalk</strong> button in the browser's toolbar (look in the puzzle-piece
    menu if it is not pinned), then <strong>Connect</strong>.</li>
</ol>
<p>Or open Retalk's options and paste the address of this page into <em>Connect link</em>.</p>
<p class="muted">This link works once, for one browser, and expires. If Retalk says it was used or
has expired, ask whoever sent it for a new one.</p>
</main>
</body>
</html>
`;

function linkBody(link: ConnectLink) {
  return { url: link.url, expiresAt: new Date(link.expiresAt).toISOString() };
}

function parseTtl(request: FastifyRequest): number | undefined {
  const parsed = CreateConnectLinkSchema.safeParse(request.body ?? {});
  if (!parsed.success) throw fromZodError(parsed.error, 'body');
  return parsed.data.ttlMinutes === undefined ? undefined : parsed.data.ttlMinutes * 60_000;
}

async function connectLinkBody(ctx: RelayContext, member: MemberRecord, ttlMs: number | undefined) {
  return linkBody(
    await createConnectLink(ctx.store, member, { publicUrl: ctx.publicUrl(), now: ctx.now(), ttlMs }),
  );
}

/** Connect links: the page the link opens, and the claim the extension makes with its code (no sign-in). */
export function registerConnectRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/connect', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .send(CONNECT_PAGE),
  );

  app.post('/v1/connect', async (request, reply) => {
    const parsed = ClaimConnectLinkRequestSchema.safeParse(request.body);
    if (!parsed.success) throw fromZodError(parsed.error, 'body');
    const claim = await claimConnectCode(ctx.store, parsed.data.code, ctx.now());
    if (claim.ok) {
      request.log.info({ member: claim.member.name }, 'browser connected by link');
      return reply
        .code(201)
        .send({ token: claim.token, member: { id: claim.member.id, name: claim.member.name } });
    }
    // A code is 192 random bits, so guessing is hopeless; failures still count as failed sign-ins.
    const wait = await ctx.authFailureLimiter.hit(request.ip);
    request.log.warn(
      { remoteAddress: request.ip, reason: claim.reason, limited: wait > 0 },
      'failed connect link',
    );
    if (wait > 0) {
      throw new ApiError(429, 'rate_limited', 'Too many failed sign-ins from this address; wait a minute.', {
        retryAfterMs: wait,
      });
    }
    const again = 'ask whoever sent it for a new one';
    switch (claim.reason) {
      case 'unknown':
        throw new ApiError(
          404,
          'not_found',
          `This connect link is not known to this relay; check you opened the whole link, or ${again}.`,
          { field: 'code' },
        );
      case 'used':
        throw new ApiError(
          410,
          'link_expired',
          `This connect link was used already (each works for one browser); ${again}.`,
          { field: 'code' },
        );
      case 'expired':
        throw new ApiError(410, 'link_expired', `This connect link has expired; ${again}.`, {
          field: 'code',
        });
      case 'revoked':
        throw new ApiError(
          403,
          'forbidden',
          'This member was revoked, so the link no longer connects; ask your relay admin.',
          { field: 'code' },
        );
    }
  });
}

/** Makes a connect link for one's own other browser (member routes' scope). */
export function registerMemberConnectRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.post('/v1/me/connect-links', async (request, reply) => {
    const member = signedInMember(request);
    return reply.code(201).send(await connectLinkBody(ctx, member, parseTtl(request)));
  });
}

/** Makes a connect link for any active member (admin routes' scope). */
export function registerAdminConnectRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.post('/admin/members/:name/connect-links', async (request, reply) => {
    const name = z.object({ name: z.string() }).parse(request.params).name;
    const ttlMs = parseTtl(request);
    const member = await ctx.store.getMemberByName(name);
    if (!member || member.revokedAt !== null) {
      throw new ApiError(404, 'not_found', `No active member named "${name.slice(0, 64)}".`, {
        field: 'name',
      });
    }
    return reply.code(201).send(await connectLinkBody(ctx, member, ttlMs));
  });
}
