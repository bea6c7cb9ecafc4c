import type { FastifyInstance } from 'fastify';
import type { RelayContext } from '../app.js';
import type { BusEvent } from '../event-bus.js';

const REPLAY_LIMIT = 1000;

/** `GET /v1/events`: Server-Sent Events of the member's job changes, resumable with Last-Event-ID. */
export function registerEventRoutes(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/v1/events', async (request, reply) => {
    const member = ctx.requireMember(request, reply);
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

    if (lastSeen !== undefined) {
      const oldest = ctx.store.oldestEventSeq();
      const events = ctx.store.eventsAfter(member.id, lastSeen, REPLAY_LIMIT);
      if ((oldest !== undefined && lastSeen < oldest - 1) || events.length === REPLAY_LIMIT) {
        res.write(
          `event: reset\ndata: ${JSON.stringify({ reason: 'resume point too old; refetch GET /v1/jobs' })}\n\n`,
        );
        const latest = ctx.store.eventsAfter(member.id, lastSeen, Number.MAX_SAFE_INTEGER).at(-1);
        if (latest) sent = latest.seq;
      } else {
        for (const e of events) send({ seq: e.seq, payload: e.payload });
      }
    }
    replaying = false;
    for (const e of buffered) send(e);
    res.write(`event: ready\ndata: ${JSON.stringify({ lastEventId: sent > 0 ? String(sent) : null })}\n\n`);

    const heartbeat = setInterval(() => res.write(': ping\n\n'), ctx.heartbeatMs);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      ctx.openStreams.delete(end);
      if (!res.writableEnded) res.end();
    };
    ctx.openStreams.add(end);
    request.raw.on('close', end);
    res.on('error', end);
  });
}
