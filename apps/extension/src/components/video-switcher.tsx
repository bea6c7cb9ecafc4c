import { t } from '../lib/i18n.js';
import type { PageVideoEntry } from '../lib/page-video.js';
import { formatSeconds } from '../lib/time-format.js';

/**
 * The videos of the clicked frame, when it has more than one (finding 9): the member sees which one
 * the picker took and can take another, instead of paying for the wrong clip.
 */
export function VideoSwitcher(props: { videos: PageVideoEntry[]; onChoose: (index: number) => void }) {
  if (props.videos.length < 2) return null;
  return (
    <fieldset class="video-switcher" data-testid="video-switcher">
      <legend>{t('picker.pageVideos', { count: String(props.videos.length) })}</legend>
      <ul>
        {props.videos.map((video, position) => {
          const facts = [
            video.width ? `${video.width}×${video.height}` : '',
            video.durationSec !== undefined ? formatSeconds(video.durationSec) : '',
            video.playing ? t('picker.pageVideoPlaying') : '',
          ].filter(Boolean);
          return (
            <li key={video.index}>
              <label class="check video-choice">
                <input
                  type="radio"
                  name="page-video"
                  checked={video.current}
                  onChange={() => props.onChoose(video.index)}
                />
                {video.thumbnail ? (
                  <img class="mini-thumb" src={video.thumbnail} alt="" />
                ) : (
                  <span class="mini-thumb placeholder" aria-hidden="true">
                    ▶
                  </span>
                )}
                <span>
                  <strong>{t('picker.pageVideo', { number: String(position + 1) })}</strong>
                  <span class="muted"> {facts.join(' · ')}</span>
                </span>
              </label>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
