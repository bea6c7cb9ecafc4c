/**
 * A task's scenario, parsed from `?sim=` on its video_url, the `X-Sim-Scenario` header or
 * `sim.nextScenario()`. Grammar (several joined by `,`): `ok` · `fail:<CODE>` ·
 * `reject:<HTTP>[:<CODE>]` · `flaky:<N>[:<HTTP>]` · `retry-after:<S>` · `slow` · `stuck` · `noface`.
 * Fault extensions for reliability tests: `hang:<N>` · `reset:<N>` · `garbage:<N>` (the next N
 * queries never answer / are cut mid-body / are malformed JSON) · `cut-result[:<N>]` (the first N
 * result downloads die half-way, default 1) · `slow-result:<MS>` (every result download trickles
 * its bytes over MS milliseconds, a slow CDN) · `lost-answer` (the create request makes the task, then
 * the connection dies before the answer: a submit whose outcome the client cannot know).
 */
export interface Scenario {
  fail?: string;
  reject?: { status: number; code?: string };
  flaky?: { count: number; status: number };
  retryAfterSec?: number;
  /** The retry-after came from `nextScenario()`: answer 429 without remembering the request. */
  retryAfterQueued?: boolean;
  slow: boolean;
  stuck: boolean;
  noface: boolean;
  hang?: number;
  reset?: number;
  garbage?: number;
  cutResult?: number;
  /** Every result download spreads its bytes over this many milliseconds. */
  slowResultMs?: number;
  lostAnswer?: boolean;
}

export const SCENARIO_GRAMMAR =
  'ok | fail:<CODE> | reject:<HTTP>[:<CODE>] | flaky:<N>[:<HTTP>] | retry-after:<S> | slow | stuck | noface | hang:<N> | reset:<N> | garbage:<N> | cut-result[:<N>] | slow-result:<MS> | lost-answer (several joined by ",")';

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  readonly code = 'invalid_scenario';
}

export function emptyScenario(): Scenario {
  return { slow: false, stuck: false, noface: false };
}

function parseIntIn(text: string | undefined, min: number, max: number, what: string, whole: string): number {
  if (text === undefined || !/^\d+$/.test(text)) {
    throw new ScenarioError(`Scenario "${whole}": ${what} must be an integer ${min}-${max}`);
  }
  const n = Number(text);
  if (n < min || n > max) throw new ScenarioError(`Scenario "${whole}": ${what} must be ${min}-${max}`);
  return n;
}

/** Parses a scenario string; throws `ScenarioError` naming the bad part and the grammar. */
export function parseScenario(text: string, into: Scenario = emptyScenario()): Scenario {
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '' || part === 'ok') continue;
    const [name, ...args] = part.split(':');
    switch (name) {
      case 'fail': {
        const code = args.join(':');
        if (!code)
          throw new ScenarioError(`Scenario "${part}": fail needs a code, e.g. fail:InvalidFile.FPS`);
        into.fail = code;
        break;
      }
      case 'reject': {
        const status = parseIntIn(args[0], 400, 599, 'the HTTP status', part);
        into.reject = args[1] ? { status, code: args.slice(1).join(':') } : { status };
        break;
      }
      case 'flaky': {
        const count = parseIntIn(args[0], 1, 1_000_000, 'N', part);
        const status = args[1] === undefined ? 503 : parseIntIn(args[1], 500, 599, 'the HTTP status', part);
        into.flaky = { count, status };
        break;
      }
      case 'retry-after':
        into.retryAfterSec = parseIntIn(args[0], 0, 86_400, 'S (seconds)', part);
        break;
      case 'hang':
      case 'reset':
      case 'garbage':
        into[name] = parseIntIn(args[0], 1, 1_000_000, 'N', part);
        break;
      case 'cut-result':
        into.cutResult = args[0] === undefined ? 1 : parseIntIn(args[0], 1, 1_000_000, 'N', part);
        break;
      case 'slow-result':
        into.slowResultMs = parseIntIn(args[0], 1, 600_000, 'MS (milliseconds)', part);
        break;
      case 'lost-answer':
        if (args.length > 0) throw new ScenarioError(`Scenario "${part}": lost-answer takes no argument`);
        into.lostAnswer = true;
        break;
      case 'slow':
      case 'stuck':
      case 'noface':
        if (args.length > 0) throw new ScenarioError(`Scenario "${part}": ${name} takes no argument`);
        into[name] = true;
        break;
      default:
        throw new ScenarioError(`Unknown simulator scenario "${part}"; allowed: ${SCENARIO_GRAMMAR}`);
    }
  }
  return into;
}

/** The `sim` query parameter of a URL, if any. */
export function scenarioFromUrl(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    return new URL(url).searchParams.get('sim') ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The scenarios a create request names itself (`X-Sim-Scenario`, then `?sim=` on its video URL),
 * each checked: throws `ScenarioError` on bad grammar, without touching the `nextScenario()` queue.
 */
export function requestScenarios(header: unknown, videoUrl: unknown): string[] {
  const sources = [typeof header === 'string' ? header : undefined, scenarioFromUrl(videoUrl)].filter(
    (s): s is string => s !== undefined,
  );
  for (const source of sources) parseScenario(source);
  return sources;
}
