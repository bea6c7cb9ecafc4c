import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 signatures for expiring file links (`?exp=<unix s>&sig=<base64url>`). */
export interface UrlSigner {
  /**
   * Returns `path?exp=…&sig=…` valid for `ttlMs` from `fromMs` (default now). The same path, ttl and
   * start always give the same link, so a repeated submit can carry the identical body.
   */
  sign(path: string, ttlMs: number, fromMs?: number): { query: string; expiresAt: number };
  /** True when `sig` matches `path` + `exp` and `exp` is in the future. */
  verify(path: string, exp: string | undefined, sig: string | undefined): 'ok' | 'expired' | 'invalid';
}

export function createUrlSigner(secret: string, now: () => number = Date.now): UrlSigner {
  const mac = (path: string, exp: string) => createHmac('sha256', secret).update(`${path}\n${exp}`).digest();
  return {
    sign(path, ttlMs, fromMs) {
      const expiresAt = (fromMs ?? now()) + ttlMs;
      const exp = String(Math.floor(expiresAt / 1000));
      return { query: `exp=${exp}&sig=${mac(path, exp).toString('base64url')}`, expiresAt };
    },
    verify(path, exp, sig) {
      if (!exp || !sig || !/^\d{1,12}$/.test(exp) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return 'invalid';
      const expected = mac(path, exp);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
      return Number(exp) * 1000 > now() ? 'ok' : 'expired';
    },
  };
}
