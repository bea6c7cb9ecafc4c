import { parseArgs } from 'node:util';
import { budgetOf } from './budget.js';
import { ConfigError, loadConfig, type RelayConfig } from './config.js';
import { CONNECT_LINK_MAX_TTL_MS, createConnectLink } from './connect-links.js';
import { createMember } from './members.js';
import { MemberNameSchema } from './routes/admin.js';
import { serveRelay, stopOnSignal } from './serve.js';
import { openStore } from './store/open.js';
import { StoreUnavailableError } from './store/postgres.js';
import type { RelayStore } from './store/types.js';
import { describeUpstreams, upstreamStatuses } from './upstream-status.js';

export interface CliIo {
  env: Record<string, string | undefined>;
  cwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = `Usage: retalk-relay <command>
  serve                                   start the relay (configuration from the environment)
  members add <name> [--budget-seconds N --period day|month] [--max-concurrent N]
                                          create a member and print its token (shown once)
  members link <name> [--minutes N]       print a single-use link that connects a browser as
                                          <name> (no token to paste; default 30 minutes)
  members list                            list members with their budgets
  members revoke <name>                   revoke a member's token (effective on the next request)
  usage [--member <name>]                 output seconds used and reserved per member
  upstreams                               the upstreams (RETALK_UPSTREAMS_FILE or the one of
                                          RETALK_PROVIDER): health, load, last error; never a key`;

/** Runs one CLI command; resolves the exit code (`serve` resolves only once the server stops). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [command, sub, name, ...rest] = positionals;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(error.message);
      return 2;
    }
    throw error;
  }
  if (command !== 'serve' && command !== 'members' && command !== 'usage' && command !== 'upstreams') {
    io.err(command ? `Unknown command "${command}".\n${USAGE}` : USAGE);
    return 2;
  }
  let store: RelayStore;
  try {
    if (command === 'serve') {
      const running = await serveRelay(config, { print: io.out });
      return await stopOnSignal(running, config);
    }
    store = await openStore(config);
  } catch (error) {
    if (error instanceof StoreUnavailableError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  try {
    const now = Date.now();
    if (command === 'upstreams') {
      io.out(
        [
          'name',
          'provider',
          'account',
          'priority',
          'cost_per_s',
          'health',
          'live_jobs',
          'in_flight',
          'since',
          'probe_at',
          'reason',
          'last_error',
        ].join('\t'),
      );
      for (const u of await upstreamStatuses(store, describeUpstreams(config))) {
        io.out(
          [
            u.name,
            u.provider,
            u.account,
            u.priority,
            u.costPerOutputSecond,
            u.health,
            u.liveJobs,
            `${u.inFlight}/${u.concurrency}`,
            u.since ?? '-',
            u.probeAt ?? '-',
            u.reason ?? '-',
            u.lastError ? `${u.lastError.at} ${u.lastError.code}: ${u.lastError.message}` : '-',
          ].join('\t'),
        );
      }
      return 0;
    }
    if (command === 'usage') {
      const members = (await store.listMembers()).filter((m) => !values.member || m.name === values.member);
      if (values.member && members.length === 0) {
        io.err(`No member named "${values.member}".`);
        return 1;
      }
      io.out(
        ['member', 'period', 'limit_s', 'used_s', 'reserved_s', 'remaining_s', 'active_jobs'].join('\t'),
      );
      for (const m of members) {
        const b = await budgetOf(store, m, now);
        io.out(
          [
            m.name,
            b.period ?? '-',
            b.limitSeconds ?? 'unlimited',
            b.usedSeconds,
            b.reservedSeconds,
            b.remainingSeconds ?? 'unlimited',
            await store.countActiveJobs(m.id),
          ].join('\t'),
        );
      }
      return 0;
    }
    if (sub === 'add') {
      const checked = MemberNameSchema.safeParse(name);
      if (!checked.success) {
        io.err(`members add needs a name: ${checked.error.issues[0]?.message ?? 'invalid'}.\n${USAGE}`);
        return 2;
      }
      if (rest.length > 0) {
        io.err(`Unexpected argument "${rest[0]}".\n${USAGE}`);
        return 2;
      }
      if (await store.getMemberByName(checked.data)) {
        io.err(`A member named "${checked.data}" exists already; pick another name or revoke it first.`);
        return 1;
      }
      const budget = values['budget-seconds'] === undefined ? undefined : Number(values['budget-seconds']);
      if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) {
        io.err('--budget-seconds must be a positive number of seconds of output video.');
        return 2;
      }
      const period = values.period;
      if (period !== undefined && period !== 'day' && period !== 'month') {
        io.err('--period must be day or month.');
        return 2;
      }
      if (period !== undefined && budget === undefined) {
        io.err('--period needs --budget-seconds.');
        return 2;
      }
      const maxConcurrent =
        values['max-concurrent'] === undefined ? undefined : Number(values['max-concurrent']);
      if (
        maxConcurrent !== undefined &&
        !(Number.isInteger(maxConcurrent) && maxConcurrent >= 1 && maxConcurrent <= 1000)
      ) {
        io.err('--max-concurrent must be a whole number from 1 to 1000.');
        return 2;
      }
      const { member, token } = await createMember(
        store,
        { name: checked.data, budgetSeconds: budget, period, maxConcurrentJobs: maxConcurrent },
        now,
      );
      io.out(`Created member ${member.name} (${member.id}).`);
      io.out(`Token (shown only now; the relay keeps a hash): ${token}`);
      printConnectLink(io, await createConnectLink(store, member, { publicUrl: cliPublicUrl(config), now }));
      return 0;
    }
    if (sub === 'link') {
      const member = name ? await store.getMemberByName(name) : undefined;
      if (!name || rest.length > 0) {
        io.err(`members link needs one member name.\n${USAGE}`);
        return 2;
      }
      if (!member || member.revokedAt !== null) {
        io.err(`No active member named "${name}"; see members list.`);
        return 1;
      }
      const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
      const maxMinutes = CONNECT_LINK_MAX_TTL_MS / 60_000;
      if (minutes !== undefined && !(Number.isInteger(minutes) && minutes >= 1 && minutes <= maxMinutes)) {
        io.err(`--minutes must be a whole number from 1 to ${maxMinutes} (7 days).`);
        return 2;
      }
      const ttlMs = minutes === undefined ? undefined : minutes * 60_000;
      printConnectLink(
        io,
        await createConnectLink(store, member, { publicUrl: cliPublicUrl(config), now, ttlMs }),
      );
      return 0;
    }
    if (sub === 'list') {
      io.out(['name', 'id', 'created', 'status', 'budget', 'used_s', 'max_concurrent'].join('\t'));
      for (const m of await store.listMembers()) {
        const b = await budgetOf(store, m, now);
        io.out(
          [
            m.name,
            m.id,
            new Date(m.createdAt).toISOString(),
            m.revokedAt === null ? 'active' : `revoked ${new Date(m.revokedAt).toISOString()}`,
            b.limitSeconds === null ? 'unlimited' : `${b.limitSeconds}s/${b.period}`,
            b.usedSeconds,
            m.maxConcurrentJobs ?? 'default',
          ].join('\t'),
        );
      }
      return 0;
    }
    if (sub === 'revoke') {
      if (!name) {
        io.err(`members revoke needs a name.\n${USAGE}`);
        return 2;
      }
      if (!(await store.revokeMember(name, now))) {
        io.err(`No active member named "${name}".`);
        return 1;
      }
      io.out(`Revoked ${name}; its token stops working on its next request.`);
      return 0;
    }
    io.err(`Unknown members command "${sub ?? ''}".\n${USAGE}`);
    return 2;
  } finally {
    await store.close();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'budget-seconds': { type: 'string' },
      period: { type: 'string' },
      'max-concurrent': { type: 'string' },
      member: { type: 'string' },
      minutes: { type: 'string' },
    },
  });
}

/** The address members' browsers reach the relay at, as the running relay would say it. */
function cliPublicUrl(config: RelayConfig): string {
  if (config.publicUrl) return config.publicUrl;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

function printConnectLink(io: CliIo, link: { url: string; expiresAt: number }): void {
  io.out(`Connect link (one browser, until ${new Date(link.expiresAt).toISOString()}): ${link.url}`);
  io.out('  Send it to the member: they open it where Retalk is installed and click Connect.');
}
