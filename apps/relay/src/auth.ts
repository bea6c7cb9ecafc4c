import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MemberRecord, RelayStore } from './store/types.js';

/** Member tokens: `rtk_` + 32 random bytes, base64url (43 characters). */
export const TOKEN_PREFIX = 'rtk_';
const TOKEN_PATTERN = /^rtk_[A-Za-z0-9_-]{43}$/;

export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** Tokens are stored only as this hash; a leaked database does not leak usable tokens. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison of two secrets of any length (both are hashed first). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export type AuthResult =
  | { ok: true; member: MemberRecord }
  | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' };

/**
 * Reads `Authorization: Bearer rtk_…` and finds the member. Lookups are cached until the members
 * change anywhere (the store's version moves), so a revocation applies on the next request.
 */
export function createMemberAuth(store: RelayStore): (header: string | undefined) => Promise<AuthResult> {
  const cache = new Map<string, MemberRecord | undefined>();
  let version = '';
  return async (header) => {
    const current = await store.membersVersion();
    if (current !== version) {
      cache.clear();
      version = current;
    }
    return authenticateMember(
      {
        findMemberByTokenHash: async (hash) => {
          if (cache.has(hash)) return cache.get(hash);
          const found = await store.findMemberByTokenHash(hash);
          if (cache.size > 10_000) cache.clear();
          cache.set(hash, found);
          return found;
        },
      },
      header,
    );
  };
}

/** Reads `Authorization: Bearer rtk_…` and finds the member (revocation applies on the next request). */
export async function authenticateMember(
  store: Pick<RelayStore, 'findMemberByTokenHash'>,
  header: string | undefined,
): Promise<AuthResult> {
  if (!header) return { ok: false, reason: 'missing' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { ok: false, reason: 'malformed' };
  const token = match[1] as string;
  if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: 'malformed' };
  const hash = hashToken(token);
  // The lookup is by hash (an index seek); the final check is constant-time on the hash itself.
  const member = await store.findMemberByTokenHash(hash);
  if (!member || !safeEqual(member.tokenHash, hash)) return { ok: false, reason: 'unknown' };
  if (member.revokedAt !== null) return { ok: false, reason: 'revoked' };
  return { ok: true, member };
}

/** True when `header` is `Bearer <expected>` (constant time); false when nothing is expected. */
export function bearerMatches(expected: string | undefined, header: string | undefined): boolean {
  if (!expected || !header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? safeEqual(match[1] as string, expected) : false;
}

/** Checks the admin bearer token (constant time); false when no admin token is configured. */
export function isAdmin(adminToken: string | undefined, header: string | undefined): boolean {
  return bearerMatches(adminToken, header);
}
