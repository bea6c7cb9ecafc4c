import type { JobConform } from '@retalk/core/relay';
import { t } from '../lib/i18n.js';

const INPUTS = ['video', 'audio', 'refImage'] as const;

/**
 * What the relay changed to make the inputs fit the provider's limits, one plain sentence each
 * ("Video: scaled 640×360 → 1138×640", "Video: trimmed to 0:12–0:42"). Nothing when nothing
 * changed. The sentences are the relay's own (it speaks English).
 */
export function ConformNotes(props: { conform: JobConform | undefined }) {
  const lines = INPUTS.flatMap((name) =>
    (props.conform?.[name]?.changes ?? []).map((change) => t(`conform.${name}`, { change })),
  );
  if (lines.length === 0) return null;
  return (
    <ul class="conform muted" data-testid="conform" aria-label={t('conform.label')}>
      {lines.map((line) => (
        <li key={line}>{line}</li>
      ))}
    </ul>
  );
}
