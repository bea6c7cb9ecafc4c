/** An abort controller tied to the simulator's shutdown, forgotten by `release()` once its work ends. */
export interface LinkedAbort {
  readonly signal: AbortSignal;
  abort(): void;
  release(): void;
}

/**
 * `close()` fanned out to the work in flight (input downloads, callbacks, delayed fixtures).
 * A set of controllers rather than one abort listener per operation on a shared signal: Node
 * warns (MaxListenersExceededWarning) past 10 listeners on one AbortSignal, and on Node 20
 * `AbortSignal.any()` keeps a WeakRef per dependant on the parent for the parent's whole life.
 */
export interface Shutdown {
  /** Aborted once `close()` ran; read `.aborted`, do not listen to it. */
  readonly signal: AbortSignal;
  /** A fresh controller that `close()` aborts (already aborted after it). */
  link(): LinkedAbort;
  close(): void;
  /** Controllers linked and not yet released (for tests of the bookkeeping). */
  readonly pending: number;
}

export function createShutdown(): Shutdown {
  const root = new AbortController();
  const live = new Set<AbortController>();
  return {
    signal: root.signal,
    link() {
      const controller = new AbortController();
      if (root.signal.aborted) controller.abort();
      else live.add(controller);
      return {
        signal: controller.signal,
        abort: () => controller.abort(),
        release: () => {
          live.delete(controller);
        },
      };
    },
    close() {
      if (root.signal.aborted) return;
      root.abort();
      for (const controller of live) controller.abort();
      live.clear();
    },
    get pending() {
      return live.size;
    },
  };
}
