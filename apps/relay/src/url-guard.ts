import dns, { type LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';

/** Why an input URL was refused; the message says what to do instead. */
export interface UrlProblem {
  message: string;
}

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  // Unspecified, loopback and the deprecated IPv4-compatible form (::a.b.c.d, e.g. [::127.0.0.1]).
  // (::ffff:0:0/96 must not be listed: BlockList would then match every IPv4 address.)
  ['::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['64:ff9b::', 96],
  // Local-use NAT64 (RFC 8215), deprecated site-local, and the discard prefix (findings L10).
  ['64:ff9b:1::', 48],
  ['fec0::', 10],
  ['100::', 64],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True for loopback, private, link-local, CGNAT, multicast, reserved and documentation addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const lower = address.toLowerCase();
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms carry an IPv4 address inside.
    const mapped =
      /^(?:0*:)*(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ??
      /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
    if (mapped) {
      if (mapped.length === 2) return isPrivateAddress(mapped[1] as string);
      const hi = Number.parseInt(mapped[1] as string, 16);
      const lo = Number.parseInt(mapped[2] as string, 16);
      return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    const embedded = embeddedIpv4(lower);
    if (embedded.some((v4) => isPrivateAddress(v4))) return true;
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** The eight 16-bit words of an IPv6 address (a trailing dotted quad allowed), or undefined. */
function ipv6Words(address: string): number[] | undefined {
  let text = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => Number.parseInt(w, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const words =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)
    ? words
    : undefined;
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * IPv4 addresses carried inside an IPv6 one that can route to them (findings L10): IPv4-translated
 * (`::ffff:0:a.b.c.d`), 6to4 (`2002:AABB:CCDD::`) and Teredo (server, and the client XOR 0xffff).
 */
function embeddedIpv4(address: string): string[] {
  const w = ipv6Words(address);
  if (!w) return [];
  const [w0, w1, w2, w3, w4, w5, w6, w7] = w as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0xffff && w5 === 0) return [v4(w6, w7)];
  if (w0 === 0x2002) return [v4(w1, w2)];
  if (w0 === 0x2001 && w1 === 0) return [v4(w2, w3), v4(w6 ^ 0xffff, w7 ^ 0xffff)];
  return [];
}

export interface UrlGuardOptions {
  /** Allow loopback/private targets (the offline demo and tests). Default false. */
  allowPrivate: boolean;
  /** Resolver; default `dns.lookup` with all addresses. */
  resolve?: (host: string) => Promise<string[]>;
}

const defaultResolve = async (host: string) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Checks a URL a member gave as job input: http/https only, no credentials, and (unless allowed)
 * no host that is or resolves to a loopback/private/link-local address — including the numeric
 * forms (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`) that WHATWG URL parsing normalizes.
 */
export async function checkInputUrl(raw: string, options: UrlGuardOptions): Promise<UrlProblem | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { message: 'is not a valid URL; give a full http(s) URL such as https://example.com/video.mp4' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      message: `uses ${url.protocol.replace(/:$/, '')}:, but only http and https URLs can be fetched by the provider`,
    };
  }
  if (url.username || url.password) {
    return { message: 'must not contain a user name or password; upload the file to the relay instead' };
  }
  if (options.allowPrivate) return undefined;
  // URL() already turned decimal/hex/octal IPv4 forms into dotted quads and bracketed IPv6.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    return isPrivateAddress(host)
      ? {
          message: `points at a private or loopback address (${host}); the provider cannot fetch it. Upload the file to the relay instead`,
        }
      : undefined;
  }
  if (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal') ||
    !host.includes('.')
  ) {
    return {
      message: `points at a local host name (${host}); the provider cannot fetch it. Upload the file to the relay instead`,
    };
  }
  let addresses: string[];
  try {
    addresses = await (options.resolve ?? defaultResolve)(host);
  } catch {
    return {
      message: `has a host name that does not resolve (${host}); check the URL or upload the file instead`,
    };
  }
  if (addresses.length === 0) return { message: `has a host name with no addresses (${host})` };
  const bad = addresses.find(isPrivateAddress);
  if (bad) {
    return {
      message: `resolves to a private or loopback address (${host} → ${bad}); the provider cannot fetch it. Upload the file instead`,
    };
  }
  return undefined;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address?: string | LookupAddress[],
  family?: number,
) => void;

/** dns.lookup that refuses names resolving to a private address (checked when connecting). */
function publicOnlyLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    const first = addresses[0];
    if (bad || !first) {
      const refused = new Error(`${hostname} resolves to a private address; not connecting`);
      return callback(Object.assign(refused, { code: 'ERR_PRIVATE_ADDRESS' }));
    }
    return options.all ? callback(null, addresses) : callback(null, first.address, first.family);
  });
}

let publicOnlyAgent: Agent | undefined;

/**
 * A fetch that checks the address it actually connects to, not only the one checkInputUrl saw: a
 * DNS name that answered a public address to the check cannot rebind to a private one for the fetch.
 */
export const publicOnlyFetch = ((input: string | URL, init?: RequestInit) => {
  publicOnlyAgent ??= new Agent({ connect: { lookup: publicOnlyLookup as never } });
  return undiciFetch(input, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: publicOnlyAgent });
}) as unknown as typeof fetch;

/** A URL the relay refused to fetch (scheme, credentials, private address or too many redirects). */
export class UrlRefusedError extends Error {
  override name = 'UrlRefusedError' as const;
  readonly code = 'url_not_allowed';
  constructor(
    /** The URL of the refused hop (the first one, or where a redirect pointed). */
    readonly url: string,
    message: string,
  ) {
    super(message);
  }
}

export interface GuardedFetchOptions {
  /** Allow loopback/private targets everywhere (the offline demo). Default false. */
  allowPrivate: boolean;
  /** `host:port` entries allowed even though private (the built-in simulator, a LAN media server). */
  allowedHosts: readonly string[];
  /** Redirects followed before giving up. Default 5. */
  maxRedirects?: number;
  /** Resolver for the pre-connect check; default `dns.lookup` with all addresses. */
  resolve?: (host: string) => Promise<string[]>;
}

function hopName(hop: number, url: string): string {
  // Signed links carry their signature in the query; name the path only (this reaches logs).
  return hop === 0 ? 'the URL' : `redirect ${hop} (to ${url.split('?')[0]?.slice(0, 200)})`;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function hostOf(raw: string): string | undefined {
  try {
    return new URL(raw).host;
  } catch {
    return undefined;
  }
}

/**
 * A fetch for URLs the relay itself follows (input probes, result downloads): every hop, the first
 * and each redirect target, passes checkInputUrl, and a hop to a host that is not explicitly
 * allowed connects through publicOnlyFetch, so DNS rebinding between check and connect is caught
 * too. Redirects are followed by hand (at most `maxRedirects`); a refusal rejects with
 * UrlRefusedError.
 */
export function createGuardedFetch(options: GuardedFetchOptions): typeof fetch {
  const maxRedirects = options.maxRedirects ?? 5;
  const guarded = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    for (let hop = 0; ; hop++) {
      const allowed = options.allowPrivate || options.allowedHosts.includes(hostOf(url) ?? '');
      const problem = await checkInputUrl(url, {
        allowPrivate: allowed,
        ...(options.resolve ? { resolve: options.resolve } : {}),
      });
      if (problem) {
        throw new UrlRefusedError(url, `${hopName(hop, url)} ${problem.message}`);
      }
      const doFetch = allowed ? globalThis.fetch : publicOnlyFetch;
      let response: Response;
      try {
        response = await doFetch(url, { ...init, headers, redirect: 'manual' });
      } catch (error) {
        // publicOnlyFetch's connect-time check: the name now resolves somewhere private (rebinding).
        if ((error as { cause?: { code?: string } }).cause?.code === 'ERR_PRIVATE_ADDRESS') {
          throw new UrlRefusedError(
            url,
            `${hopName(hop, url)} resolved to a private address when connecting`,
          );
        }
        throw error;
      }
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
      await response.body?.cancel().catch(() => undefined);
      if (hop >= maxRedirects) {
        throw new UrlRefusedError(
          url,
          `redirected more than ${maxRedirects} times; give the final URL of the file`,
        );
      }
      const next = new URL(location, url).toString();
      // Credentials meant for one origin never travel to another.
      if (hostOf(next) !== hostOf(url)) {
        headers.delete('authorization');
        headers.delete('cookie');
      }
      url = next;
    }
  };
  return guarded as typeof fetch;
}
