import fs from 'node:fs';
import path from 'node:path';
import { PROVIDERS, type Provider } from '@retalk/core';
import { z } from 'zod';
import { parseUpstreams, type UpstreamConfig } from './upstreams.js';

/** The upstream a relay forwards to. `simulator` = the built-in fake, speaking `simulatorProtocol`. */
export type UpstreamKind = Provider | 'simulator';

/** How files uploaded to the relay reach the provider. */
export type InputRoute = 'relay' | 'provider';

export interface RelayConfig {
  /** Which protocol the relay speaks upstream (the simulator speaks one of the two). */
  provider: Provider;
  simulator: boolean;
  apiKey: string | undefined;
  baseUrl: string | undefined;
  filesBaseUrl: string | undefined;
  /**
   * The pool of upstreams from `RETALK_UPSTREAMS_FILE` (keys resolved; never logged). Undefined:
   * one upstream from RETALK_PROVIDER / RETALK_API_KEY / RETALK_BASE_URL, as before the pool.
   */
  upstreams: UpstreamConfig[] | undefined;
  host: string;
  port: number;
  /** Public origin the provider reaches the relay at (signed file URLs, callbacks). */
  publicUrl: string | undefined;
  dataDir: string;
  /**
   * PostgreSQL connection URL (`RETALK_DATABASE_URL`); undefined keeps the embedded SQLite store in
   * `dataDir`. Holds a password: never logged.
   */
  databaseUrl: string | undefined;
  adminToken: string | undefined;
  /** When set, `/metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | undefined;
  signingSecret: string | undefined;
  allowPrivateUrls: boolean;
  inputRoute: InputRoute;
  pollIntervalMs: number;
  retentionDays: number;
  uploadTtlHours: number;
  defaultMaxConcurrentJobs: number;
  rateLimitPerMinute: number;
  simulatorJobMs: number;
  /** Overrides the per-kind upload size limits (bytes) when set. */
  maxUploadBytes: number | undefined;
  /** Conforms (transcodes) running at once in child processes. */
  conformConcurrency: number;
  /** Wall-clock limit of one conform, in milliseconds. */
  conformTimeoutMs: number;
  /** Resident memory limit of one conform's child process, in bytes. */
  conformMemoryBytes: number;
  /** Wall-clock limit of fetching one URL input into the relay's storage, in milliseconds. */
  fetchTimeoutMs: number;
  /** Input hosts (`host:port`) allowed even though private (e.g. a media server on the LAN). */
  allowedInputHosts: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Proxies whose `X-Forwarded-*` the relay believes: none (`false`), or addresses/CIDRs (`true`
   * means loopback only, the proxy on the same machine). Only the hop a trusted proxy appended
   * counts, so a client cannot pick its own address (findings L2).
   */
  trustProxy: false | string[];
  /**
   * Bytes of unexpired uploads (originals and conformed copies) one member may keep. Never below
   * the largest upload (checked at start); default twice the largest original (4 GiB).
   */
  memberStorageBytes: number;
  /** Unexpired uploads one member may keep. */
  memberMaxUploads: number;
  /** Open event streams one member may have; a new one beyond it closes the oldest. */
  maxStreamsPerMember: number;
  /** A connection with no bytes moving either way for this long is closed, in milliseconds. */
  idleTimeoutMs: number;
  /**
   * On SIGTERM/SIGINT, how long open requests (an upload half-sent) may finish before they are
   * cut. Default 8 s: under Docker's 10 s before SIGKILL, so the store still closes cleanly; raise
   * it with the supervisor's own grace (Kubernetes gives 30 s).
   */
  shutdownGraceMs: number;
  /** Time a client has to send its headers, in milliseconds. */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request (headers and body), in milliseconds. */
  requestTimeoutMs: number;
  /**
   * This relay's name among several on one PostgreSQL database (`RETALK_INSTANCE_ID`; leases,
   * metrics). Default: host name, process id and a random suffix, new at every start.
   */
  instanceId?: string | undefined;
  /**
   * How long a job's lease lasts without renewal (`RETALK_LEASE_MS`, PostgreSQL only): after an
   * instance dies, another takes its jobs over within this time. Default 10 000.
   */
  leaseMs?: number | undefined;
}

/**
 * Largest original a member may upload per kind, in MiB, unless RETALK_MAX_UPLOAD_MB overrides all
 * three. Originals may be far larger than what the provider takes (a long talk of which a clip is
 * used, a 4K recording): the relay conforms them before the provider sees them.
 */
export const ORIGINALS_MAX_MB = { video: 2048, audio: 512, image: 50 } as const;

/**
 * The default per-member storage quota is this many times the largest original: room for one
 * original of the largest size plus its conformed copy (at most 300 MB) and the voice recording.
 * With the default limits, 4096 MiB.
 */
export const STORAGE_QUOTA_PER_LARGEST_ORIGINAL = 2;

/** Open event streams per member unless RETALK_MAX_STREAMS_PER_MEMBER says otherwise (findings L7). */
export const DEFAULT_MAX_STREAMS_PER_MEMBER = 10;

/** Thrown when the environment holds bad values; `problems` has one readable line per bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError' as const;
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`The relay's configuration is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const bool = (name: string) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no'], { error: `${name} must be true or false` })
    .transform((v) => v === '1' || v === 'true' || v === 'yes');

const int = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `${name} must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const httpUrl = (name: string) =>
  z
    .string()
    .refine((v) => /^https?:\/\/[^\s/]+/i.test(v) && URL.canParse(v), {
      error: `${name} must be an http(s) URL such as https://relay.example.com`,
    })
    .transform((v) => v.replace(/\/+$/, ''));

const EnvSchema = z.object({
  RETALK_PROVIDER: z
    .enum([...PROVIDERS, 'simulator'], {
      error: `RETALK_PROVIDER must be ${PROVIDERS.join(', ')} or simulator`,
    })
    .optional(),
  RETALK_SIMULATOR_PROTOCOL: z
    .enum(PROVIDERS, { error: `RETALK_SIMULATOR_PROTOCOL must be ${PROVIDERS.join(' or ')}` })
    .optional(),
  RETALK_API_KEY: z.string().optional(),
  RETALK_UPSTREAMS_FILE: z.string().min(1).optional(),
  RETALK_BASE_URL: httpUrl('RETALK_BASE_URL').optional(),
  RETALK_FILES_BASE_URL: httpUrl('RETALK_FILES_BASE_URL').optional(),
  RETALK_PUBLIC_URL: httpUrl('RETALK_PUBLIC_URL').optional(),
  RETALK_DATA_DIR: z.string().min(1).optional(),
  // Never echoed back (the URL may hold a password).
  RETALK_DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\/\S+$/i.test(v) && URL.canParse(v), {
      error:
        'RETALK_DATABASE_URL must be a PostgreSQL URL such as postgres://retalk:password@db.example.com:5432/retalk (leave it unset for the embedded SQLite store)',
    })
    .optional(),
  RETALK_ADMIN_TOKEN: z.string().min(24, 'RETALK_ADMIN_TOKEN must be at least 24 characters').optional(),
  RETALK_METRICS_TOKEN: z.string().min(24, 'RETALK_METRICS_TOKEN must be at least 24 characters').optional(),
  RETALK_SIGNING_SECRET: z
    .string()
    .min(32, 'RETALK_SIGNING_SECRET must be at least 32 characters')
    .optional(),
  RETALK_ALLOW_PRIVATE_URLS: bool('RETALK_ALLOW_PRIVATE_URLS').optional(),
  RETALK_INPUT_ROUTE: z
    .enum(['relay', 'provider'], { error: 'RETALK_INPUT_ROUTE must be relay or provider' })
    .optional(),
  RETALK_POLL_INTERVAL_MS: int('RETALK_POLL_INTERVAL_MS', 50, 600_000).optional(),
  RETALK_RETENTION_DAYS: int('RETALK_RETENTION_DAYS', 1, 3650).optional(),
  RETALK_UPLOAD_TTL_HOURS: int('RETALK_UPLOAD_TTL_HOURS', 1, 720).optional(),
  RETALK_MAX_CONCURRENT_JOBS: int('RETALK_MAX_CONCURRENT_JOBS', 1, 1000).optional(),
  RETALK_RATE_LIMIT_PER_MINUTE: int('RETALK_RATE_LIMIT_PER_MINUTE', 1, 1_000_000).optional(),
  RETALK_SIM_JOB_MS: int('RETALK_SIM_JOB_MS', 10, 3_600_000).optional(),
  RETALK_MAX_UPLOAD_MB: int('RETALK_MAX_UPLOAD_MB', 1, 100_000).optional(),
  RETALK_CONFORM_CONCURRENCY: int('RETALK_CONFORM_CONCURRENCY', 1, 64).optional(),
  RETALK_CONFORM_TIMEOUT_S: int('RETALK_CONFORM_TIMEOUT_S', 1, 86_400).optional(),
  RETALK_CONFORM_MEMORY_MB: int('RETALK_CONFORM_MEMORY_MB', 128, 65_536).optional(),
  RETALK_FETCH_TIMEOUT_S: int('RETALK_FETCH_TIMEOUT_S', 1, 86_400).optional(),
  RETALK_ALLOWED_INPUT_HOSTS: z
    .string()
    .regex(/^[A-Za-z0-9.:[\]_-]+(,[A-Za-z0-9.:[\]_-]+)*$/, {
      error: 'RETALK_ALLOWED_INPUT_HOSTS must be a comma-separated list of host:port entries',
    })
    .optional(),
  RETALK_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'RETALK_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .optional(),
  RETALK_TRUST_PROXY: z
    .string()
    .regex(/^(1|0|true|false|yes|no|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)$/, {
      error:
        'RETALK_TRUST_PROXY must be true (a proxy on this machine), false, or a comma-separated list of proxy addresses or CIDRs',
    })
    .optional(),
  RETALK_MEMBER_STORAGE_MB: int('RETALK_MEMBER_STORAGE_MB', 1, 10_000_000).optional(),
  RETALK_MEMBER_MAX_UPLOADS: int('RETALK_MEMBER_MAX_UPLOADS', 1, 1_000_000).optional(),
  RETALK_MAX_STREAMS_PER_MEMBER: int('RETALK_MAX_STREAMS_PER_MEMBER', 1, 10_000).optional(),
  RETALK_IDLE_TIMEOUT_MS: int('RETALK_IDLE_TIMEOUT_MS', 100, 3_600_000).optional(),
  RETALK_HEADERS_TIMEOUT_MS: int('RETALK_HEADERS_TIMEOUT_MS', 100, 600_000).optional(),
  RETALK_REQUEST_TIMEOUT_MS: int('RETALK_REQUEST_TIMEOUT_MS', 100, 86_400_000).optional(),
  RETALK_SHUTDOWN_GRACE_MS: int('RETALK_SHUTDOWN_GRACE_MS', 0, 600_000).optional(),
  RETALK_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, {
      error: 'RETALK_INSTANCE_ID must be 1 to 64 letters, digits, dots, dashes or underscores',
    })
    .optional(),
  RETALK_LEASE_MS: int('RETALK_LEASE_MS', 300, 600_000).optional(),
  HOST: z.string().min(1).optional(),
  PORT: int('PORT', 0, 65535).optional(),
});

/** Reads and validates the relay's environment. Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined>, cwd: string): RelayConfig {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '');
        // Never echo the value of a secret back into a log.
        return issue.message.includes(name) ? issue.message : `${name}: ${issue.message}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  let upstreams: UpstreamConfig[] | undefined;
  if (e.RETALK_UPSTREAMS_FILE !== undefined) {
    const file = path.resolve(cwd, e.RETALK_UPSTREAMS_FILE);
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(
        `RETALK_UPSTREAMS_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
    if (text !== undefined) {
      const parsed = parseUpstreams(text, `RETALK_UPSTREAMS_FILE ${file}`, env);
      problems.push(...parsed.problems);
      upstreams = parsed.upstreams;
    }
    if (e.RETALK_API_KEY !== undefined || e.RETALK_PROVIDER !== undefined) {
      problems.push(
        'RETALK_UPSTREAMS_FILE is set together with RETALK_API_KEY or RETALK_PROVIDER: the file names every upstream; unset those two',
      );
    }
  }
  const simulator =
    upstreams === undefined && (e.RETALK_PROVIDER === 'simulator' || e.RETALK_API_KEY === undefined);
  if (
    e.RETALK_PROVIDER !== undefined &&
    e.RETALK_PROVIDER !== 'simulator' &&
    e.RETALK_API_KEY === undefined
  ) {
    problems.push(
      `RETALK_PROVIDER=${e.RETALK_PROVIDER} needs RETALK_API_KEY (or use RETALK_PROVIDER=simulator)`,
    );
  }
  if (e.RETALK_API_KEY !== undefined && e.RETALK_PROVIDER === undefined) {
    problems.push('RETALK_API_KEY is set: also set RETALK_PROVIDER to evolink or dashscope');
  }
  const headersTimeoutMs = e.RETALK_HEADERS_TIMEOUT_MS ?? 20_000;
  const requestTimeoutMs = e.RETALK_REQUEST_TIMEOUT_MS ?? 600_000;
  if (headersTimeoutMs > requestTimeoutMs) {
    problems.push('RETALK_HEADERS_TIMEOUT_MS must not be larger than RETALK_REQUEST_TIMEOUT_MS');
  }
  // A quota below the largest original makes that upload impossible to store; say so at start
  // rather than to a member with a 2 GB recording.
  const largestOriginalMb = e.RETALK_MAX_UPLOAD_MB ?? Math.max(...Object.values(ORIGINALS_MAX_MB));
  if (e.RETALK_MEMBER_STORAGE_MB !== undefined && e.RETALK_MEMBER_STORAGE_MB < largestOriginalMb) {
    const limitFrom =
      e.RETALK_MAX_UPLOAD_MB === undefined ? 'the default video originals limit' : 'RETALK_MAX_UPLOAD_MB';
    problems.push(
      `RETALK_MEMBER_STORAGE_MB=${e.RETALK_MEMBER_STORAGE_MB} is below the largest upload a member may make (${largestOriginalMb} MB, ${limitFrom}), so such a file could never be stored: raise RETALK_MEMBER_STORAGE_MB to at least ${largestOriginalMb} (${largestOriginalMb * STORAGE_QUOTA_PER_LARGEST_ORIGINAL} leaves room for its conformed copy and the voice), or lower RETALK_MAX_UPLOAD_MB to at most ${e.RETALK_MEMBER_STORAGE_MB}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const provider: Provider = upstreams?.[0]
    ? upstreams[0].provider
    : e.RETALK_PROVIDER === undefined || e.RETALK_PROVIDER === 'simulator'
      ? (e.RETALK_SIMULATOR_PROTOCOL ?? 'dashscope')
      : e.RETALK_PROVIDER;
  return {
    provider,
    simulator,
    apiKey: simulator ? undefined : e.RETALK_API_KEY,
    baseUrl: e.RETALK_BASE_URL,
    filesBaseUrl: e.RETALK_FILES_BASE_URL,
    upstreams,
    host: e.HOST ?? '127.0.0.1',
    port: e.PORT ?? 8787,
    publicUrl: e.RETALK_PUBLIC_URL,
    dataDir: path.resolve(cwd, e.RETALK_DATA_DIR ?? '.retalk-data'),
    databaseUrl: e.RETALK_DATABASE_URL,
    adminToken: e.RETALK_ADMIN_TOKEN,
    metricsToken: e.RETALK_METRICS_TOKEN,
    signingSecret: e.RETALK_SIGNING_SECRET,
    allowPrivateUrls: e.RETALK_ALLOW_PRIVATE_URLS ?? simulator,
    inputRoute: e.RETALK_INPUT_ROUTE ?? 'relay',
    pollIntervalMs: e.RETALK_POLL_INTERVAL_MS ?? 2_000,
    retentionDays: e.RETALK_RETENTION_DAYS ?? 30,
    uploadTtlHours: e.RETALK_UPLOAD_TTL_HOURS ?? 48,
    defaultMaxConcurrentJobs: e.RETALK_MAX_CONCURRENT_JOBS ?? 3,
    rateLimitPerMinute: e.RETALK_RATE_LIMIT_PER_MINUTE ?? 600,
    simulatorJobMs: e.RETALK_SIM_JOB_MS ?? 8_000,
    maxUploadBytes: e.RETALK_MAX_UPLOAD_MB === undefined ? undefined : e.RETALK_MAX_UPLOAD_MB * 1024 * 1024,
    conformConcurrency: e.RETALK_CONFORM_CONCURRENCY ?? 1,
    conformTimeoutMs: (e.RETALK_CONFORM_TIMEOUT_S ?? 600) * 1000,
    conformMemoryBytes: (e.RETALK_CONFORM_MEMORY_MB ?? 1024) * 1024 * 1024,
    fetchTimeoutMs: (e.RETALK_FETCH_TIMEOUT_S ?? 300) * 1000,
    allowedInputHosts: e.RETALK_ALLOWED_INPUT_HOSTS?.split(',') ?? [],
    logLevel: e.RETALK_LOG_LEVEL ?? 'info',
    trustProxy: parseTrustProxy(e.RETALK_TRUST_PROXY),
    memberStorageBytes:
      (e.RETALK_MEMBER_STORAGE_MB ?? largestOriginalMb * STORAGE_QUOTA_PER_LARGEST_ORIGINAL) * 1024 * 1024,
    memberMaxUploads: e.RETALK_MEMBER_MAX_UPLOADS ?? 1000,
    maxStreamsPerMember: e.RETALK_MAX_STREAMS_PER_MEMBER ?? DEFAULT_MAX_STREAMS_PER_MEMBER,
    idleTimeoutMs: e.RETALK_IDLE_TIMEOUT_MS ?? 60_000,
    shutdownGraceMs: e.RETALK_SHUTDOWN_GRACE_MS ?? 8_000,
    headersTimeoutMs,
    requestTimeoutMs,
    instanceId: e.RETALK_INSTANCE_ID,
    leaseMs: e.RETALK_LEASE_MS ?? 10_000,
  };
}

/** True for a listen address only this machine can reach (`127.0.0.0/8`, `::1`, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

function parseTrustProxy(value: string | undefined): false | string[] {
  if (value === undefined || ['0', 'false', 'no'].includes(value)) return false;
  if (['1', 'true', 'yes'].includes(value)) return ['loopback'];
  return value.split(',');
}
