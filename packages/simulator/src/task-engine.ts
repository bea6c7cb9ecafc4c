import type { SimClock } from './clock.js';
import type { InputsOutcome, TaskInputUrls } from './inputs.js';
import type { InputFailure } from './media-limits.js';
import type { Scenario } from './scenario.js';

export type Provider = 'evolink' | 'dashscope';

export type TaskPhase =
  | 'pending'
  | 'pre-processing'
  | 'running'
  | 'post-processing'
  | 'succeeded'
  | 'failed'
  | 'canceled';

export interface TaskRequest extends TaskInputUrls {
  model: string;
  videoExtension: boolean;
  faceThreshold: number;
  callbackUrl?: string;
}

export interface TaskFailure extends InputFailure {
  /** `input`: found while fetching/probing the inputs; `scenario`: asked for by a scenario. */
  source: 'input' | 'scenario' | 'noface';
}

/** How a provider runs its tasks (set by its simulator module; the engine never tests provider names). */
export interface TaskRules {
  /** A video without a face fails (EvoLink's page); DashScope keeps the original frames (B.5). */
  failsWithoutFace: boolean;
  /** Tasks wait in one queue per account for `dashscopeConcurrentTasks` slots (DashScope B.7). */
  accountQueue: boolean;
}

export interface TaskRecord {
  provider: Provider;
  rules: TaskRules;
  id: string;
  requestId: string;
  account: string;
  createdAt: number;
  durationMs: number;
  scenario: Scenario;
  request: TaskRequest;
  inputs?: InputsOutcome;
  inputsDoneAt?: number;
  /** When the task left PENDING (DashScope's scheduled_time). */
  startedAt?: number;
  endedAt?: number;
  /** A stuck task gives its concurrency slot back at its nominal end but never finishes. */
  slotReleased: boolean;
  phase: TaskPhase;
  failure?: TaskFailure;
  flakyLeft: number;
  /** Remaining `hang` / `reset` / `garbage` query faults and `cut-result` downloads. */
  faults: { hang: number; reset: number; garbage: number; cutResult: number; slowResultMs: number };
  lastProgress: number;
}

/** What a create request decided; the rest of a new task's record is the same for both providers. */
export interface NewTask {
  provider: Provider;
  rules: TaskRules;
  id: string;
  requestId: string;
  account: string;
  createdAt: number;
  jobMs: number;
  scenario: Scenario;
  videoUrl: string;
  audioUrl: string;
  refImageUrl?: unknown;
  videoExtension: unknown;
  faceThreshold: unknown;
  callbackUrl?: unknown;
}

/** Builds the record of a freshly created task, in PENDING, with the scenario's faults armed. */
export function newTaskRecord(t: NewTask): TaskRecord {
  const { scenario } = t;
  const task: TaskRecord = {
    provider: t.provider,
    rules: t.rules,
    id: t.id,
    requestId: t.requestId,
    account: t.account,
    createdAt: t.createdAt,
    durationMs: t.jobMs * (scenario.slow ? 10 : 1),
    scenario,
    request: {
      model: 'videoretalk',
      videoUrl: t.videoUrl,
      audioUrl: t.audioUrl,
      videoExtension: t.videoExtension === true,
      // 170 is the documented default of query_face_threshold on both providers.
      faceThreshold: typeof t.faceThreshold === 'number' ? t.faceThreshold : 170,
    },
    slotReleased: false,
    phase: 'pending',
    flakyLeft: scenario.flaky?.count ?? 0,
    faults: {
      hang: scenario.hang ?? 0,
      reset: scenario.reset ?? 0,
      garbage: scenario.garbage ?? 0,
      cutResult: scenario.cutResult ?? 0,
      slowResultMs: scenario.slowResultMs ?? 0,
    },
    lastProgress: 0,
  };
  // DashScope's official samples send ref_image_url: "" to mean "none".
  if (typeof t.refImageUrl === 'string' && t.refImageUrl !== '') task.request.refImageUrl = t.refImageUrl;
  if (typeof t.callbackUrl === 'string') task.request.callbackUrl = t.callbackUrl;
  return task;
}

// Shares of a task's duration: PENDING, then (of the remaining run) PRE- and POST-PROCESSING.
const PENDING_SHARE = 0.1;
const PRE_SHARE = 0.15;
const POST_SHARE = 0.15;

export const isTerminalPhase = (p: TaskPhase): boolean =>
  p === 'succeeded' || p === 'failed' || p === 'canceled';

interface PlannedEnd {
  at: number;
  kind: 'succeed' | 'fail' | 'release';
  failure?: TaskFailure;
}

export interface TaskEngineOptions {
  clock: SimClock;
  dashscopeConcurrentTasks: number;
  dashscopeProcessingStates: boolean;
  failureMessage(code: string): string;
  onTerminal(task: TaskRecord): void;
}

export interface TaskView {
  phase: TaskPhase;
  progress: number;
}

export function createTaskEngine(options: TaskEngineOptions) {
  const { clock } = options;
  const tasks = new Map<string, TaskRecord>();
  const active: TaskRecord[] = [];
  const freeAtByAccount = new Map<string, number>();

  const pendingMs = (t: TaskRecord) => t.durationMs * PENDING_SHARE;
  const runMs = (t: TaskRecord) => t.durationMs * (1 - PENDING_SHARE);

  function plannedEnd(t: TaskRecord): PlannedEnd | undefined {
    if (t.startedAt === undefined || t.inputs === undefined) return undefined;
    const ready = t.inputsDoneAt ?? t.startedAt;
    if (!t.inputs.ok) {
      return {
        at: Math.max(t.startedAt + runMs(t) * PRE_SHARE, ready),
        kind: 'fail',
        failure: { ...t.inputs.failure, source: 'input' },
      };
    }
    const at = Math.max(t.startedAt + runMs(t), ready);
    if (t.scenario.stuck) return t.slotReleased ? undefined : { at, kind: 'release' };
    if (t.scenario.fail) {
      const code = t.scenario.fail;
      return {
        at,
        kind: 'fail',
        failure: { code, message: options.failureMessage(code), source: 'scenario' },
      };
    }
    // EvoLink's page: "the video must contain a human face, otherwise the task fails". DashScope
    // keeps the original frames instead (B.5).
    if (t.rules.failsWithoutFace && (t.scenario.noface || t.inputs.video.face === 'none')) {
      return {
        at,
        kind: 'fail',
        failure: {
          code: 'invalid_parameters',
          message: 'No human face was detected in the video.',
          source: 'noface',
        },
      };
    }
    return { at, kind: 'succeed' };
  }

  function apply(t: TaskRecord, end: PlannedEnd): void {
    if (end.kind === 'release') {
      t.slotReleased = true;
      return;
    }
    t.endedAt = end.at;
    t.slotReleased = true;
    if (end.kind === 'succeed') {
      t.phase = 'succeeded';
    } else {
      t.phase = 'failed';
      if (end.failure) t.failure = end.failure;
    }
    options.onTerminal(t);
  }

  function tickAlone(t: TaskRecord, now: number): void {
    if (t.startedAt === undefined && now >= t.createdAt + pendingMs(t))
      t.startedAt = t.createdAt + pendingMs(t);
    const end = plannedEnd(t);
    if (end && end.at <= now) apply(t, end);
  }

  // Walks one account's DashScope queue forward in time order: ends free slots, freed slots
  // start the oldest PENDING task, so a task's scheduled_time is when a slot really opened.
  function tickDashscopeAccount(account: string, list: TaskRecord[], now: number): void {
    const limit = options.dashscopeConcurrentTasks;
    for (let guard = 0; guard < 10_000; guard++) {
      let running = 0;
      let soonest: { task: TaskRecord; end: PlannedEnd } | undefined;
      let next: TaskRecord | undefined;
      for (const t of list) {
        if (t.endedAt !== undefined) continue;
        if (t.startedAt === undefined) {
          next ??= t;
          continue;
        }
        if (!t.slotReleased) running++;
        const end = plannedEnd(t);
        if (end && (!soonest || end.at < soonest.end.at)) soonest = { task: t, end };
      }
      const startAt =
        next && running < limit
          ? Math.max(next.createdAt + pendingMs(next), freeAtByAccount.get(account) ?? 0)
          : undefined;
      if (soonest && soonest.end.at <= now && (startAt === undefined || soonest.end.at <= startAt)) {
        apply(soonest.task, soonest.end);
        freeAtByAccount.set(account, soonest.end.at);
        continue;
      }
      if (next && startAt !== undefined && startAt <= now) {
        next.startedAt = startAt;
        continue;
      }
      return;
    }
  }

  function tick(): void {
    const now = clock.now();
    const byAccount = new Map<string, TaskRecord[]>();
    for (const t of active) {
      if (!t.rules.accountQueue) tickAlone(t, now);
      else {
        const list = byAccount.get(t.account) ?? [];
        list.push(t);
        byAccount.set(t.account, list);
      }
    }
    for (const [account, list] of byAccount) tickDashscopeAccount(account, list, now);
    for (let i = active.length - 1; i >= 0; i--) {
      const t = active[i];
      if (t && isTerminalPhase(t.phase) && t.slotReleased) active.splice(i, 1);
      // A stuck task never ends; once its slot is back it only needs to be read, not ticked.
      else if (t?.scenario.stuck && t.slotReleased) active.splice(i, 1);
    }
  }

  return {
    add(task: TaskRecord): void {
      tasks.set(task.id, task);
      active.push(task);
    },
    get: (id: string) => tasks.get(id),
    all: () => tasks.values(),
    tick,
    /** Moves a PENDING task to CANCELED; false when it is in any other state. */
    cancel(task: TaskRecord): boolean {
      tick();
      if (task.phase !== 'pending' || task.startedAt !== undefined) return false;
      task.phase = 'canceled';
      task.endedAt = clock.now();
      task.slotReleased = true;
      tick();
      return true;
    },
    inputsReady(task: TaskRecord, outcome: InputsOutcome): void {
      task.inputs = outcome;
      task.inputsDoneAt = clock.now();
      tick();
    },
    /** The phase and progress a reader sees now (progress never goes down). */
    view(t: TaskRecord): TaskView {
      if (isTerminalPhase(t.phase)) return { phase: t.phase, progress: t.phase === 'succeeded' ? 100 : 0 };
      const now = clock.now();
      if (t.startedAt === undefined) {
        const progress = Math.max(
          t.lastProgress,
          Math.min(10, Math.floor((10 * (now - t.createdAt)) / pendingMs(t))),
        );
        t.lastProgress = progress;
        return { phase: 'pending', progress };
      }
      const rel = (now - t.startedAt) / runMs(t);
      let phase: TaskPhase = 'running';
      if (options.dashscopeProcessingStates) {
        if (t.inputs === undefined || rel < PRE_SHARE) phase = 'pre-processing';
        else if (rel >= 1 - POST_SHARE && !t.scenario.stuck) phase = 'post-processing';
      }
      const progress = Math.max(
        t.lastProgress,
        Math.min(80, 10 + Math.floor(70 * Math.min(1, Math.max(0, rel)))),
      );
      t.lastProgress = progress;
      return { phase, progress };
    },
    /** The sim-clock time of the next state change that needs no request to happen. */
    nextEventAt(): number | undefined {
      const now = clock.now();
      let soonest: number | undefined;
      const consider = (at: number) => {
        if (at > now && (soonest === undefined || at < soonest)) soonest = at;
      };
      for (const t of active) {
        if (t.startedAt === undefined) consider(t.createdAt + pendingMs(t));
        const end = plannedEnd(t);
        if (end) consider(end.at);
      }
      return soonest;
    },
    hasActive: () => active.length > 0,
  };
}

export type TaskEngine = ReturnType<typeof createTaskEngine>;
