import { formatClock } from '@retalk/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../lib/i18n.js';
import { CLIP_MAX_SEC, isPartOf } from '../lib/pick-check.js';
import { playRange } from '../lib/thumbnails.js';
import { formatSeconds } from '../lib/time-format.js';
import type { AudioChoice } from './audio-input.js';
import { type Clip, ClipChooser } from './clip-chooser.js';

/**
 * The part of one voice track to use: start and end on the audio's own timeline, played here
 * before anything is sent. Open from the start when the audio is longer than a job may be (its
 * first 2 min are then proposed); otherwise the whole audio is used until the member opens it.
 */
export function AudioPart(props: {
  /** The audio's place in the list: its controls' ids are `audio-<index>-start` / `-end`. */
  index: number;
  choice: AudioChoice;
  durationSec: number;
  /** The chosen part; absent = all of it. */
  range?: Clip | undefined;
  /** True while the range is the picker's proposal for a too-long audio, not the member's choice. */
  proposed?: boolean | undefined;
  disabled?: boolean | undefined;
  onChange: (range: Clip | undefined) => void;
}) {
  const player = useRef<HTMLAudioElement | null>(null);
  const [src, setSrc] = useState<string | null>(null);
  const [status, setStatus] = useState<string | undefined>(undefined);
  const { choice } = props;

  useEffect(() => {
    if (choice.from === 'url') {
      setSrc(choice.url);
      return;
    }
    const url = URL.createObjectURL(choice.file);
    setSrc(url);
    return () => URL.revokeObjectURL(url);
  }, [choice]);

  const clip = props.range ?? { startSec: 0, endSec: props.durationSec };
  const prefix = `audio-${props.index}`;

  async function play(range: Clip) {
    if (!player.current) return;
    const span = { start: formatClock(range.startSec), end: formatClock(range.endSec) };
    setStatus(t('picker.audioPartPlaying', span));
    await playRange(player.current, range, () => setStatus(t('picker.previewPlayed', span))).catch(() =>
      setStatus(t('picker.audioPartCannotPlay')),
    );
  }

  return (
    <details
      class="audio-part"
      open={props.range !== undefined}
      aria-live="off"
      data-testid={`${prefix}-part`}
    >
      <summary>{t('picker.audioPart')}</summary>
      {props.proposed && (
        <p class="hint" data-testid={`${prefix}-proposed`}>
          {t('picker.audioPartProposed', {
            length: formatSeconds(props.durationSec),
            max: formatSeconds(CLIP_MAX_SEC),
          })}
        </p>
      )}
      <ClipChooser
        clip={clip}
        idPrefix={prefix}
        durationSec={props.durationSec}
        disabled={props.disabled ?? false}
        previewLabel={t('picker.audioPartPlay')}
        onPreview={src ? (range) => void play(range) : undefined}
        previewStatus={status}
        onChange={(next) => props.onChange(isPartOf(next, props.durationSec) ? next : undefined)}
      />
      {src && (
        // biome-ignore lint/a11y/useMediaCaption: the member's own voice track, played to check the part
        <audio ref={player} src={src} preload="metadata" data-testid={`${prefix}-player`} />
      )}
    </details>
  );
}
