/** A job change as pushed to live SSE connections: its store sequence number and JSON payload. */
export interface BusEvent {
  seq: number;
  payload: string;
}

/** In-process fan-out of job changes per member (one relay process; the store keeps the history). */
export interface EventBus {
  publish(memberId: string, event: BusEvent): void;
  subscribe(memberId: string, listener: (event: BusEvent) => void): () => void;
  /** Whether any stream of this member listens here. */
  listening(memberId: string): boolean;
  connections(): number;
}

export function createEventBus(): EventBus {
  const listeners = new Map<string, Set<(event: BusEvent) => void>>();
  let count = 0;
  return {
    publish(memberId, event) {
      for (const listener of listeners.get(memberId) ?? []) listener(event);
    },
    subscribe(memberId, listener) {
      let set = listeners.get(memberId);
      if (!set) {
        set = new Set();
        listeners.set(memberId, set);
      }
      set.add(listener);
      count++;
      return () => {
        if (set.delete(listener)) count--;
        if (set.size === 0) listeners.delete(memberId);
      };
    },
    listening: (memberId) => listeners.has(memberId),
    connections: () => count,
  };
}
