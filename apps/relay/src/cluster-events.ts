import type { FastifyBaseLogger } from 'fastify';
import type { EventBus } from './event-bus.js';
import type { JobWriter } from './jobs.js';
import type { ClusterStore, EventNotice, RelayStore } from './store/types.js';

/** Events read per query while catching a member's streams up. */
const CATCH_UP_LIMIT = 1000;

/**
 * Carries job events between relay instances on one PostgreSQL database: every stored event
 * (whoever wrote it, this instance too) arrives as a notice — sequence, member, job — in commit
 * order; the job's cached JSON is dropped, and when a stream of the member listens here, the events
 * after the last one pushed are read from the store and pushed in sequence order. Upstream health
 * shared by any instance arrives on the same connection and goes to `onUpstreamHealth` (null: every
 * upstream, after notices may have been missed). Answers a function that stops listening.
 */
export async function relayClusterEvents(deps: {
  cluster: ClusterStore;
  store: RelayStore;
  bus: EventBus;
  writer: JobWriter;
  log: FastifyBaseLogger;
  onUpstreamHealth: (name: string | null) => void;
}): Promise<() => Promise<void>> {
  const { bus, store, writer, log } = deps;
  // The last sequence pushed per member with streams here; one catch-up at a time per member.
  const pushed = new Map<string, number>();
  const chains = new Map<string, Promise<void>>();

  function catchUp(memberId: string, from: number): void {
    const previous = chains.get(memberId) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (!bus.listening(memberId)) {
        pushed.delete(memberId);
        return;
      }
      let after = Math.max(pushed.get(memberId) ?? from, from);
      for (;;) {
        const events = await store.eventsAfter(memberId, after, CATCH_UP_LIMIT);
        for (const e of events) bus.publish(memberId, { seq: e.seq, payload: e.payload });
        if (events.length > 0) after = (events[events.length - 1] as { seq: number }).seq;
        pushed.set(memberId, after);
        if (events.length < CATCH_UP_LIMIT) return;
      }
    });
    const settled = next.catch((error: unknown) => {
      // The next notice (or the stream's own resume) catches up from the last event pushed.
      log.warn({ memberId, err: String(error) }, 'reading events for live streams failed');
    });
    chains.set(memberId, settled);
    void settled.then(() => {
      if (chains.get(memberId) === settled) chains.delete(memberId);
    });
  }

  const onEvent = (notice: EventNotice) => {
    writer.forget(notice.jobId);
    if (!bus.listening(notice.memberId)) {
      pushed.delete(notice.memberId);
      return;
    }
    const last = pushed.get(notice.memberId);
    if (last !== undefined && notice.seq <= last) return;
    catchUp(notice.memberId, notice.seq - 1);
  };
  const onGap = () => {
    log.warn('the event notice connection was lost and is back; catching streams up');
    writer.forgetAll();
    for (const [memberId, last] of pushed) catchUp(memberId, last);
    deps.onUpstreamHealth(null);
  };
  const stop = await deps.cluster.listen({
    onEvent,
    onUpstreamHealth: (name) => deps.onUpstreamHealth(name),
    onGap,
  });
  return async () => {
    await stop();
    await Promise.allSettled([...chains.values()]);
  };
}
