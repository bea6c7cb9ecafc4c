import { AsyncLocalStorage } from 'node:async_hooks';
import type { RelayQueries } from './types.js';

/** An open transaction of one store: who owns it, whether it is still open, what runs after commit. */
export interface TransactionScope {
  owner: object;
  active: boolean;
  afterCommit: (() => void)[];
}

const scopes = new AsyncLocalStorage<TransactionScope>();

/**
 * Throws when code running inside one of `owner`'s open transactions calls `owner` itself instead of
 * the transaction's handle: on SQLite that waits forever for its own lock, on PostgreSQL it runs
 * outside the transaction. Failing loudly turns a hang into a stack trace.
 */
export function assertNotInTransaction(owner: object, method: string): void {
  const scope = scopes.getStore();
  if (scope?.active && scope.owner === owner) {
    throw new Error(
      `store.${method}() was called inside one of the store's own transactions; use the transaction's handle (tx.${method}).`,
    );
  }
}

export function assertTransactionOpen(scope: TransactionScope, method: string): void {
  if (!scope.active) {
    throw new Error(`tx.${method}() was called after its transaction ended; use the store instead.`);
  }
}

/** Runs `fn` as `scope` (so misuse of the store inside it is detected). */
export function runInScope<T>(scope: TransactionScope, fn: () => Promise<T>): Promise<T> {
  return scopes.run(scope, fn);
}

/** Ends a committed scope: later use of its handle fails, and the after-commit work runs. */
export function closeScope(
  scope: TransactionScope,
  committed: boolean,
  log?: (error: unknown) => void,
): void {
  scope.active = false;
  if (!committed) return;
  for (const fn of scope.afterCommit) {
    try {
      fn();
    } catch (error) {
      log?.(error);
    }
  }
}

/** Wraps every method of `queries` so it first passes `check(name)`. */
export function guarded<T extends RelayQueries>(queries: T, check: (method: string) => void): T {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(queries)) {
    out[name] =
      typeof fn === 'function'
        ? (...args: unknown[]) => {
            try {
              check(name);
            } catch (error) {
              return Promise.reject(error);
            }
            return (fn as (...a: unknown[]) => unknown)(...args);
          }
        : fn;
  }
  return out as T;
}
