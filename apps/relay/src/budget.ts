import type { Budget } from '@retalk/core/relay';
import type { MemberRecord, RelayQueries } from './store/types.js';

/** Start and end (epoch ms, UTC) of the budget period containing `now`. */
export function periodBounds(period: 'day' | 'month', now: number): { start: number; end: number } {
  const d = new Date(now);
  if (period === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  return {
    start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

/**
 * A member's budget now. Reservations and settlements are derived from the jobs themselves: a live
 * job reserves its estimate, a succeeded job counts its billed seconds, a failed or canceled job
 * counts nothing (the refund) — so the ledger can never disagree with the jobs.
 */
export async function budgetOf(
  store: Pick<RelayQueries, 'usage'>,
  member: MemberRecord,
  now: number,
): Promise<Budget> {
  const bounds = member.period ? periodBounds(member.period, now) : undefined;
  const usage = await store.usage(member.id, bounds?.start ?? 0);
  // Never below zero, whatever a row says (findings L6: a negative bill raised the budget).
  const usedSeconds = Math.max(0, usage.usedSeconds);
  const reservedSeconds = Math.max(0, usage.reservedSeconds);
  const round = (n: number) => Math.round(n * 100) / 100;
  const budget: Budget = {
    period: member.period,
    limitSeconds: member.budgetSeconds,
    usedSeconds: round(usedSeconds),
    reservedSeconds: round(reservedSeconds),
    remainingSeconds:
      member.budgetSeconds === null
        ? null
        : round(Math.max(0, member.budgetSeconds - usedSeconds - reservedSeconds)),
  };
  if (bounds) {
    budget.periodStart = new Date(bounds.start).toISOString();
    budget.resetsAt = new Date(bounds.end).toISOString();
  }
  return budget;
}
