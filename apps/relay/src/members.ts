import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { generateToken, hashToken } from './auth.js';
import type { MemberRecord, RelayQueries, RelayStore } from './store/types.js';

/** Where simulator mode writes the demo member's token (0600), for the admin and the extension's tests. */
export function demoTokenFile(dataDir: string): string {
  return path.join(dataDir, 'demo-token.txt');
}

/** Meta key listing the ids of members simulator mode created for itself (the unlimited `demo`). */
const SIMULATOR_MEMBERS_KEY = 'simulator_member_ids';

async function simulatorMemberIds(store: RelayQueries): Promise<string[]> {
  const raw = await store.getMeta(SIMULATOR_MEMBERS_KEY);
  if (!raw) return [];
  try {
    const ids = JSON.parse(raw) as unknown;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** Records that simulator mode created this member; it is revoked once a real provider is configured. */
export async function markSimulatorMember(store: RelayStore, memberId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const ids = await simulatorMemberIds(tx);
    await tx.setMeta(SIMULATOR_MEMBERS_KEY, JSON.stringify([...ids, memberId]));
  });
}

/**
 * Findings M6: the demo member has no budget and its token went to the log, so it must not spend
 * a real provider key. Started against a real provider, the relay revokes every member simulator
 * mode created (and deletes the demo token file), saying so in the log.
 */
export async function revokeSimulatorMembers(
  store: RelayStore,
  dataDir: string,
  log: FastifyBaseLogger,
  now: number,
): Promise<void> {
  for (const id of await simulatorMemberIds(store)) {
    const member = await store.getMember(id);
    if (!member || member.revokedAt !== null) continue;
    await store.revokeMember(member.name, now);
    log.warn(
      { member: member.name },
      'a real provider is configured: the simulator\'s demo member (unlimited budget) was revoked; add real members with "retalk-relay members add <name> --budget-seconds N"',
    );
  }
  fs.rmSync(demoTokenFile(dataDir), { force: true });
}

/** Creates a member and returns its token (shown once; only the hash is stored). */
export async function createMember(
  store: Pick<RelayQueries, 'createMember'>,
  input: {
    name: string;
    budgetSeconds?: number | null | undefined;
    period?: 'day' | 'month' | null | undefined;
    maxConcurrentJobs?: number | null | undefined;
  },
  now: number,
): Promise<{ member: MemberRecord; token: string }> {
  const token = generateToken();
  const member: MemberRecord = {
    id: `mem_${randomBytes(9).toString('base64url')}`,
    name: input.name,
    tokenHash: hashToken(token),
    createdAt: now,
    revokedAt: null,
    budgetSeconds: input.budgetSeconds ?? null,
    period: input.budgetSeconds != null ? (input.period ?? 'month') : null,
    maxConcurrentJobs: input.maxConcurrentJobs ?? null,
  };
  await store.createMember(member);
  return { member, token };
}
