// Zod-free on purpose: the names and states every part shares (client, relay, extension, docs),
// importable without bundling a schema library. The schemas in task.ts and relay/schemas.ts are
// built from these lists, so each is written once.

/** The providers Retalk speaks to. */
export const PROVIDERS = ['evolink', 'dashscope'] as const;
/** `'evolink'` (api.evolink.ai, aggregator) or `'dashscope'` (Alibaba Model Studio, native). */
export type Provider = (typeof PROVIDERS)[number];

/** Provider-neutral task states (see {@link TaskStatus}). */
export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled', 'expired'] as const;
/**
 * Provider-neutral task state. `expired` means the provider no longer knows the task (DashScope
 * `UNKNOWN`, kept about 24 h after the end).
 */
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Task states that can no longer change. */
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'canceled', 'expired'];

/** True when the status can no longer change (`succeeded`, `failed`, `canceled`, `expired`). */
export function isTerminalStatus(status: TaskStatus): boolean {
  return TERMINAL_TASK_STATUSES.includes(status);
}

/**
 * Job states at the relay. `received`: stored, not yet sent upstream (waiting its turn in the
 * relay's queue); `preparing`: the relay fetches, measures and conforms the inputs (with
 * progress, cancelable), then the job waits its turn to be sent; `submitted`: accepted upstream;
 * then `queued`/`running` as the provider reports, and the terminal `succeeded`/`failed`/`canceled`.
 */
export const JOB_STATUSES = [
  'received',
  'preparing',
  'submitted',
  'queued',
  'running',
  'succeeded',
  'failed',
  'canceled',
] as const;
/** One of {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Job states that can no longer change. */
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** True for `succeeded`, `failed` and `canceled`. */
export function isTerminalJobStatus(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}
