import { randomBytes } from 'node:crypto';
import { generateToken, hashToken } from './auth.js';
import type { MemberRecord, RelayStore } from './store/types.js';

/**
 * Connect links: "open this link, click Connect" instead of pasting a token. A link carries a
 * single-use code (`rtc_` + 24 random bytes) in its fragment, which browsers never send to a
 * server; claimed, it gives that browser a token of its own, so the member's other browsers keep
 * theirs. Only hashes are stored. A link in a chat history is of no use once claimed or expired.
 */
/** How long a link works when nobody says otherwise. */
export const CONNECT_LINK_TTL_MS = 30 * 60_000;
/** The longest a link may work (an admin preparing links for a team on Monday). */
export const CONNECT_LINK_MAX_TTL_MS = 7 * 86_400_000;

export interface ConnectLink {
  url: string;
  expiresAt: number;
}

/** Makes a single-use link that connects a browser as `member`, valid for `ttlMs`. */
export async function createConnectLink(
  store: Pick<RelayStore, 'createConnectCode'>,
  member: Pick<MemberRecord, 'id'>,
  options: { publicUrl: string; now: number; ttlMs?: number | undefined },
): Promise<ConnectLink> {
  const code = `rtc_${randomBytes(24).toString('base64url')}`;
  const expiresAt = options.now + Math.min(options.ttlMs ?? CONNECT_LINK_TTL_MS, CONNECT_LINK_MAX_TTL_MS);
  await store.createConnectCode({
    codeHash: hashToken(code),
    memberId: member.id,
    createdAt: options.now,
    expiresAt,
    usedAt: null,
  });
  return { url: `${options.publicUrl}/connect#code=${code}`, expiresAt };
}

export type ClaimResult =
  | { ok: true; member: MemberRecord; token: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'used' | 'revoked' };

/** Trades a link's code for a new token of the member (once); the code must match the pattern. */
export function claimConnectCode(store: RelayStore, code: string, now: number): Promise<ClaimResult> {
  const codeHash = hashToken(code);
  return store.transaction(async (tx): Promise<ClaimResult> => {
    const record = await tx.getConnectCode(codeHash);
    if (!record) return { ok: false, reason: 'unknown' };
    if (record.usedAt !== null) return { ok: false, reason: 'used' };
    if (record.expiresAt <= now) return { ok: false, reason: 'expired' };
    const member = await tx.getMember(record.memberId);
    if (!member || member.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (!(await tx.markConnectCodeUsed(codeHash, now))) return { ok: false, reason: 'used' };
    const token = generateToken();
    await tx.addMemberToken({
      tokenHash: hashToken(token),
      memberId: member.id,
      label: 'connect link',
      createdAt: now,
    });
    return { ok: true, member, token };
  });
}
