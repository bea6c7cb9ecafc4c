import type { FastifyInstance } from 'fastify';
import { type RelayContext, signedInMember } from '../context.js';
import type { BusEvent } from '../event-bus.js';

const REPLAY_LIMIT = 1000;

/** Ends every open event stream of a member (revocation, findings L1). */
export function endMemberStreams(ctx: RelayContext, memberId: string): void {
  for (const end of [...(ctx.memberStreams.get(memberId) ?? [])]) end();
}

/** `GET /v1/events`: Server-Sent Events of the member's job changes, resumable with Last-Event-ID. */
export function registerEventRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/v1/events', async (request, reply) => {
    const member = signedInMember(request);
    const header = request.headers['last-event-id'];
    const raw = typeof header === 'string' ? header.trim() : '';
    const lastSeen = /^\d{1,15}$/.test(raw) ? Number(raw) : undefined;

    // HEAD gets the stream's headers only; a hijacked HEAD would never send them and hang.
    if (request.method === 'HEAD') {
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .send();
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');

    // Subscribe before replaying so nothing falls between the replay and the live stream.
    let replaying = true;
    const buffered: BusEvent[] = [];
    let sent = lastSeen ?? 0;
    const send = (event: BusEvent) => {
      if (event.seq <= sent) return;
      sent = event.seq;
      res.write(`id: ${event.seq}\nevent: job\ndata: ${event.payload}\n\n`);
    };
    const unsubscribe = ctx.bus.subscribe(member.id, (event) => {
      if (replaying) buffered.push(event);
      else send(event);
    });
    let heartbeat: NodeJS.Timeout | undefined;
    let mine = ctx.memberStreams.get(member.id);
    if (!mine) {
      mine = new Set();
      ctx.memberStreams.set(member.id, mine);
    }
    const streams = mine;
    let ended = false;
    const end = () => {
      ended = true;
      clearInterval(heartbeat);
      unsubscribe();
      ctx.openStreams.delete(end);
      streams.delete(end);
      if (streams.size === 0 && ctx.memberStreams.get(member.id) === streams)
        ctx.memberStreams.delete(member.id);
      if (!res.writableEnded) res.end();
    };
    // Registered before the replay reads the store, so a client leaving meanwhile ends it all.
    ctx.openStreams.add(end);
    streams.add(end);
    request.raw.on('close', end);
    res.on('error', end);
    // The oldest streams go first: a client that reconnects without closing leaks only its own.
    for (const oldest of [...streams].slice(0, Math.max(0, streams.size - ctx.config.maxStreamsPerMember)))
      oldest();

    try {
      if (lastSeen !== undefined) {
        const oldest = await ctx.store.oldestEventSeq();
        const latest = (await ctx.store.latestEventSeq(member.id)) ?? 0;
        const events =
          lastSeen > latest ? [] : await ctx.store.eventsAfter(member.id, lastSeen, REPLAY_LIMIT);
        if (ended) return;
        if (lastSeen > latest) {
          // A resume point the relay never issued (a restored database, a buggy client) would mute
          // the stream until the sequence caught up (findings L9): start over from the real latest.
          res.write(
            `event: reset\ndata: ${JSON.stringify({ reason: 'resume point unknown to this relay; refetch GET /v1/jobs' })}\n\n`,
          );
          sent = latest;
        } else if ((oldest !== undefined && lastSeen < oldest - 1) || events.length === REPLAY_LIMIT) {
          res.write(
            `event: reset\ndata: ${JSON.stringify({ reason: 'resume point too old; refetch GET /v1/jobs' })}\n\n`,
          );
          // Only the latest sequence number is needed, not the member's whole history (findings L5).
          sent = latest;
        } else {
          for (const e of events) send({ seq: e.seq, payload: e.payload });
        }
      }
    } catch (error) {
      // The client reconnects (retry: 2000) and resumes from the last id it got.
      request.log.warn({ err: String(error) }, 'replaying events failed; the stream ends');
      end();
      return;
    }
    replaying = false;
    for (const e of buffered) send(e);
    res.write(`event: ready\ndata: ${JSON.stringify({ lastEventId: sent > 0 ? String(sent) : null })}\n\n`);

    heartbeat = setInterval(() => {
      // A member revoked elsewhere (the CLI, another process) loses the stream at the next beat.
      ctx.store.getMember(member.id).then(
        (current) => {
          if (current?.revokedAt !== null) end();
          else if (!ended) res.write(': ping\n\n');
        },
        // The store is unreachable for a moment: the beat still keeps proxies from closing the stream.
        () => {
          if (!ended) res.write(': ping\n\n');
        },
      );
    }, ctx.heartbeatMs);
  });
}
