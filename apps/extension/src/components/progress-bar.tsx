import type { StatusTone } from '../lib/job-presenter.js';

export function ProgressBar(props: { value: number; label: string; tone?: StatusTone }) {
  const value = Math.max(0, Math.min(100, Math.round(props.value)));
  const toneClass = props.tone === 'ok' ? ' ok' : props.tone === 'bad' ? ' bad' : '';
  return (
    <div
      class={`progress${toneClass}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
    >
      <span style={{ width: `${value}%` }} />
    </div>
  );
}
