import { formatClock } from '@retalk/core';
import { t } from '../lib/i18n.js';
import { formatSeconds } from '../lib/time-format.js';

export type Clip = { startSec: number; endSec: number };

/**
 * The part of the video to use: start and end on the video's timeline (drag the handles, or the
 * arrow keys: 0.1 s a step, Page Up/Down 10 steps), and "from the current position". The track
 * shows frames of the video when they could be read, and the clip can be played before sending.
 */
export function ClipChooser(props: {
  clip: Clip;
  /** Prefix of the controls' ids and test ids (default `clip`): one chooser per audio uses its own. */
  idPrefix?: string;
  /** The preview button's label (default "Preview the clip"). */
  previewLabel?: string;
  /** The video's length; unknown for live streams (the timeline then spans 2 min from the start). */
  durationSec?: number;
  /** Where the page's playback stood at the right-click. */
  currentSec?: number;
  disabled?: boolean;
  /** Frames spread evenly over the whole video (none: a plain track). */
  thumbnails?: string[];
  /** Plays the clip from its start to its end; absent when nothing can play it. */
  onPreview?: ((clip: Clip) => void) | undefined;
  /** What the preview is doing, read out next to its button. */
  previewStatus?: string | undefined;
  onChange: (clip: Clip) => void;
}) {
  const { clip, onChange } = props;
  const prefix = props.idPrefix ?? 'clip';
  const max = props.durationSec ?? clip.startSec + 120;
  const length = clip.endSec - clip.startSec;
  const setStart = (startSec: number) =>
    onChange({ startSec: Math.min(startSec, clip.endSec), endSec: clip.endSec });
  const setEnd = (endSec: number) =>
    onChange({ startSec: clip.startSec, endSec: Math.max(endSec, clip.startSec) });
  const percent = (sec: number) => `${(sec / max) * 100}%`;
  return (
    <div class="clip" data-testid={prefix}>
      <div class={`timeline${props.thumbnails?.length ? ' with-frames' : ''}`} aria-hidden="true">
        {props.thumbnails && props.thumbnails.length > 0 && (
          <div class="timeline-frames" data-testid="clip-thumbnails">
            {props.thumbnails.map((src) => (
              <img key={src} src={src} alt="" />
            ))}
          </div>
        )}
        <span class="timeline-range" style={{ left: percent(clip.startSec), width: percent(length) }} />
        {props.currentSec !== undefined && (
          <span class="timeline-now" style={{ left: percent(props.currentSec) }} />
        )}
      </div>
      <ClipHandle
        id={`${prefix}-start`}
        label={t('clip.start')}
        sec={clip.startSec}
        max={max}
        disabled={props.disabled}
        onInput={setStart}
      />
      <ClipHandle
        id={`${prefix}-end`}
        label={t('clip.end')}
        sec={clip.endSec}
        max={max}
        disabled={props.disabled}
        onInput={setEnd}
      />
      <div class="row clip-summary">
        <span class="grow" data-testid={`${prefix}-summary`}>
          {formatClock(clip.startSec)} – {formatClock(clip.endSec)} · <strong>{formatSeconds(length)}</strong>
        </span>
        {props.currentSec !== undefined && (
          <button
            type="button"
            class="link"
            disabled={props.disabled}
            onClick={() => {
              const startSec = Math.min(props.currentSec!, max - Math.min(length, max));
              onChange({ startSec, endSec: Math.min(max, startSec + length) });
            }}
          >
            {t('clip.fromCurrent', { at: formatClock(props.currentSec) })}
          </button>
        )}
      </div>
      {props.onPreview && (
        <div class="row clip-preview">
          <button type="button" disabled={props.disabled} onClick={() => props.onPreview?.(clip)}>
            {props.previewLabel ?? t('clip.preview')}
          </button>
          <span class="muted" aria-live="polite" data-testid={`${prefix}-preview-status`}>
            {props.previewStatus}
          </span>
        </div>
      )}
    </div>
  );
}

/** One end of the clip: a slider over the whole timeline, 0.1 s a step, read out as a clock time. */
function ClipHandle(props: {
  id: string;
  label: string;
  sec: number;
  max: number;
  disabled?: boolean | undefined;
  onInput: (sec: number) => void;
}) {
  return (
    <>
      <label for={props.id}>
        {props.label} <span class="muted">{formatClock(props.sec)}</span>
      </label>
      <input
        id={props.id}
        type="range"
        min={0}
        max={props.max}
        step={0.1}
        value={props.sec}
        disabled={props.disabled}
        aria-valuetext={formatClock(props.sec)}
        onInput={(e) => props.onInput(Number(e.currentTarget.value))}
      />
    </>
  );
}
