import { PROVIDER_CAPABILITIES, PROVIDERS, type Provider } from '@retalk/core';

/**
 * One upstream of the relay's pool: a provider key with its limits. DashScope scopes its limits
 * to the Alibaba Cloud account, every key of it together (providers.md B.7, audit row 6), so
 * `account` groups entries: two keys of one account share one concurrency slot and one submit pace.
 */
export interface UpstreamConfig {
  /** Shown to the admin, in metrics and on each job; never the key. */
  name: string;
  provider: Provider;
  /** The provider key. Never logged, never returned. */
  apiKey: string;
  baseUrl: string | undefined;
  filesBaseUrl: string | undefined;
  /** The provider account the key belongs to; entries naming one account share its limits. */
  account: string;
  /** Tasks of the account upstream at once (DashScope: 1). */
  concurrency: number;
  /** Minimum gap between two submits on the account, in milliseconds (from submits per second, 10 % headroom). */
  submitIntervalMs: number;
  /** Task queries per second of the account (DashScope: 20). */
  queriesPerSecond: number;
  /** Lower is tried first; among equals, the cheaper. */
  priority: number;
  /** What one output second costs on this upstream (any currency; only compared). */
  costPerOutputSecond: number;
  /** How long an unhealthy upstream rests before it is probed again, in milliseconds. */
  cooldownMs: number;
}

/** The upstream that jobs stored before the pool existed (no upstream recorded) belong to. */
export const DEFAULT_UPSTREAM_NAME = 'default';

const FIELDS = [
  'name',
  'provider',
  'key',
  'keyEnv',
  'baseUrl',
  'filesBaseUrl',
  'account',
  'concurrency',
  'submitsPerSecond',
  'queriesPerSecond',
  'priority',
  'costPerOutputSecond',
  'cooldownSeconds',
] as const;

const DEFAULT_CONCURRENCY = 32;
const DEFAULT_SUBMITS_PER_SECOND = 10;
const DEFAULT_QUERIES_PER_SECOND = 20;
const DEFAULT_COOLDOWN_SECONDS = 30;

/** The gap between submits that keeps 10 % under a published rate. */
export function submitIntervalOf(submitsPerSecond: number): number {
  return Math.ceil((1000 / submitsPerSecond) * 1.1);
}

/**
 * Defaults of an upstream of `provider`: its published limits where there are any (DashScope: one
 * task, 1 submit/s, 20 queries/s per account), else generous ones (EvoLink publishes none and
 * answers 429).
 */
export function providerDefaults(provider: Provider): {
  concurrency: number;
  submitsPerSecond: number;
  queriesPerSecond: number;
} {
  const limits = PROVIDER_CAPABILITIES[provider].limits;
  return {
    concurrency: limits.concurrentTasks ?? DEFAULT_CONCURRENCY,
    submitsPerSecond: limits.submitsPerSecond ?? DEFAULT_SUBMITS_PER_SECOND,
    queriesPerSecond: limits.queriesPerSecond ?? DEFAULT_QUERIES_PER_SECOND,
  };
}

/**
 * Reads an upstreams file (`RETALK_UPSTREAMS_FILE`): `{ "upstreams": [ … ] }` or the bare array.
 * Returns the entries, or the problems found, one readable line each naming the entry and the
 * field with what is allowed. Keys are looked up in `env` when an entry names `keyEnv`; no value
 * of a key is ever part of a problem.
 */
export function parseUpstreams(
  text: string,
  source: string,
  env: Record<string, string | undefined>,
): { upstreams: UpstreamConfig[]; problems: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return {
      upstreams: [],
      problems: [`${source} is not valid JSON (${error instanceof Error ? error.message : String(error)})`],
    };
  }
  const list = Array.isArray(data) ? data : (data as { upstreams?: unknown } | null)?.upstreams;
  if (!Array.isArray(list) || list.length === 0) {
    return {
      upstreams: [],
      problems: [`${source} must hold {"upstreams": [ … ]} with at least one upstream`],
    };
  }
  const problems: string[] = [];
  const upstreams: UpstreamConfig[] = [];
  const names = new Set<string>();
  list.forEach((raw, index) => {
    const entry = parseEntry(raw, index, env, problems);
    if (!entry) return;
    if (names.has(entry.name)) {
      problems.push(
        `${label(index, entry.name)}: name "${entry.name}" is used by an earlier entry; names must be unique`,
      );
      return;
    }
    names.add(entry.name);
    upstreams.push(entry);
  });
  // Providers may mix (DashScope accounts beside EvoLink keys): jobs are checked and conformed
  // against the limits every provider of the pool accepts (pool-media.ts), and the provider each
  // job runs on is the one of the upstream it is placed on.
  // An account's limits are the account's, not a key's: its entries must not disagree on them.
  const byAccount = new Map<string, UpstreamConfig>();
  for (const u of upstreams) {
    const first = byAccount.get(u.account);
    if (!first) {
      byAccount.set(u.account, u);
      continue;
    }
    if (u.provider !== first.provider) {
      problems.push(
        `upstream "${u.name}": account "${u.account}" is also the account of upstream "${first.name}", which uses ${first.provider}, not ${u.provider}; an account belongs to one provider, so give this entry its own account`,
      );
      continue;
    }
    for (const field of ['concurrency', 'submitIntervalMs', 'queriesPerSecond'] as const) {
      if (u[field] !== first[field]) {
        const shown = field === 'submitIntervalMs' ? 'submitsPerSecond' : field;
        problems.push(
          `upstream "${u.name}": ${shown} differs from upstream "${first.name}" of the same account "${u.account}"; keys of one account share its limits, so give the same value or leave it out on both`,
        );
      }
    }
  }
  return { upstreams, problems };
}

function label(index: number, name: unknown): string {
  return typeof name === 'string' && name !== ''
    ? `upstream "${name.slice(0, 64)}" (entry ${index + 1})`
    : `upstream entry ${index + 1}`;
}

function parseEntry(
  raw: unknown,
  index: number,
  env: Record<string, string | undefined>,
  problems: string[],
): UpstreamConfig | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push(`upstream entry ${index + 1} must be an object with ${FIELDS.join(', ')}`);
    return undefined;
  }
  const e = raw as Record<string, unknown>;
  const where = label(index, e.name);
  const before = problems.length;
  const bad = (field: string, what: string) => problems.push(`${where}: ${field} ${what}`);
  for (const field of Object.keys(e)) {
    if (!(FIELDS as readonly string[]).includes(field))
      bad(field.slice(0, 40), `is not a known field; allowed: ${FIELDS.join(', ')}`);
  }
  const name = e.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
    bad('name', 'must be 1–64 letters, digits, . _ - (starting with a letter or digit)');
  const provider = e.provider;
  if (typeof provider !== 'string' || !(PROVIDERS as readonly string[]).includes(provider))
    bad('provider', `must be ${PROVIDERS.join(' or ')}`);
  let apiKey: string | undefined;
  if (e.key !== undefined && e.keyEnv !== undefined) bad('key', 'and keyEnv are both set; give one');
  else if (e.keyEnv !== undefined) {
    if (typeof e.keyEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.keyEnv))
      bad('keyEnv', 'must name an environment variable (letters, digits, _)');
    else {
      apiKey = env[e.keyEnv]?.trim();
      if (!apiKey) bad('keyEnv', `names ${e.keyEnv}, which is not set in the environment`);
    }
  } else if (e.key !== undefined) {
    // The value is a secret: the problem never quotes it.
    if (typeof e.key !== 'string' || e.key.trim().length < 4)
      bad('key', 'must be the provider key (a string)');
    else apiKey = e.key.trim();
  } else
    bad('key', 'is missing: give key (the provider key) or keyEnv (the environment variable holding it)');
  const url = (field: 'baseUrl' | 'filesBaseUrl'): string | undefined => {
    const v = e[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^https?:\/\/[^\s/]+/i.test(v) || !URL.canParse(v)) {
      bad(field, 'must be an http(s) URL such as https://dashscope-intl.aliyuncs.com/api/v1');
      return undefined;
    }
    return v.replace(/\/+$/, '');
  };
  const baseUrl = url('baseUrl');
  const filesBaseUrl = url('filesBaseUrl');
  if (e.account !== undefined && (typeof e.account !== 'string' || e.account.trim() === ''))
    bad(
      'account',
      'must be a non-empty string naming the provider account (e.g. the Alibaba Cloud account id)',
    );
  const num = (field: string, min: number, max: number, whole: boolean, fallback: number): number => {
    const v = e[field];
    if (v === undefined) return fallback;
    if (
      typeof v !== 'number' ||
      !Number.isFinite(v) ||
      v < min ||
      v > max ||
      (whole && !Number.isInteger(v))
    ) {
      bad(field, `must be a ${whole ? 'whole number' : 'number'} from ${min} to ${max}`);
      return fallback;
    }
    return v;
  };
  const defaults = providerDefaults(
    (PROVIDERS as readonly string[]).includes(provider as string) ? (provider as Provider) : 'dashscope',
  );
  const concurrency = num('concurrency', 1, 1000, true, defaults.concurrency);
  const submitsPerSecond = num('submitsPerSecond', 0.001, 1000, false, defaults.submitsPerSecond);
  const queriesPerSecond = num('queriesPerSecond', 0.1, 10_000, false, defaults.queriesPerSecond);
  const priority = num('priority', 0, 1000, true, 1);
  const costPerOutputSecond = num('costPerOutputSecond', 0, 1e6, false, 0);
  const cooldownSeconds = num('cooldownSeconds', 0.05, 86_400, false, DEFAULT_COOLDOWN_SECONDS);
  if (problems.length > before) return undefined;
  return {
    name: name as string,
    provider: provider as Provider,
    apiKey: apiKey as string,
    baseUrl,
    filesBaseUrl,
    account: typeof e.account === 'string' ? e.account.trim() : (name as string),
    concurrency,
    submitIntervalMs: submitIntervalOf(submitsPerSecond),
    queriesPerSecond,
    priority,
    costPerOutputSecond,
    cooldownMs: Math.round(cooldownSeconds * 1000),
  };
}
