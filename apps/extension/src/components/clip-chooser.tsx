import { formatClock } from '@retalk/core';
import { formatSeconds } from '../lib/time-format.js';

export type Clip = { startSec: number; endSec: number };

/**
 * The part of the video to use: start and end on the video's timeline (drag the handles, or the
 * arrow keys: 0.1 s a step, Page Up/Down 10 steps), and "from the current position".
 */
export function ClipChooser(props: {
  clip: Clip;
  /** The video's length; unknown for live streams (the timeline then spans 2 min from the start). */
  durationSec?: number;
  /** Where the page's playback stood at the right-click. */
  currentSec?: number;
  disabled?: boolean;
  onChange: (clip: Clip) => void;
}) {
  const { clip, onChange } = props;
  const max = props.durationSec ?? clip.startSec + 120;
  const length = clip.endSec - clip.startSec;
  const setStart = (startSec: number) =>
    onChange({ startSec: Math.min(startSec, clip.endSec), endSec: clip.endSec });
  const setEnd = (endSec: number) =>
    onChange({ startSec: clip.startSec, endSec: Math.max(endSec, clip.startSec) });
  const percent = (sec: number) => `${(sec / max) * 100}%`;
  return (
    <div class="clip" data-testid="clip">
      <div class="timeline" aria-hidden="true">
        <span class="timeline-range" style={{ left: percent(clip.startSec), width: percent(length) }} />
        {props.currentSec !== undefined && (
          <span class="timeline-now" style={{ left: percent(props.currentSec) }} />
        )}
      </div>
      <label for="clip-start">
        Start <span class="muted">{formatClock(clip.startSec)}</span>
      </label>
      <input
        id="clip-start"
        type="range"
        min={0}
        max={max}
        step={0.1}
        value={clip.startSec}
        disabled={props.disabled}
        aria-valuetext={formatClock(clip.startSec)}
        onInput={(e) => setStart(Number(e.currentTarget.value))}
      />
      <label for="clip-end">
        End <span class="muted">{formatClock(clip.endSec)}</span>
      </label>
      <input
        id="clip-end"
        type="range"
        min={0}
        max={max}
        step={0.1}
        value={clip.endSec}
        disabled={props.disabled}
        aria-valuetext={formatClock(clip.endSec)}
        onInput={(e) => setEnd(Number(e.currentTarget.value))}
      />
      <div class="row clip-summary">
        <span class="grow" data-testid="clip-summary">
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
            From the current position ({formatClock(props.currentSec)})
          </button>
        )}
      </div>
    </div>
  );
}
