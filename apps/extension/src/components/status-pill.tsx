import type { JobStatus } from '@retalk/core/relay';
import { statusOf } from '../lib/job-presenter.js';

export function StatusPill(props: { status: JobStatus }) {
  const { label, tone } = statusOf(props.status);
  return (
    <span class={`pill ${tone}`} data-status={props.status}>
      {label}
    </span>
  );
}
