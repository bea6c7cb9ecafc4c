import { useEffect, useState } from 'preact/hooks';
import { toErrorMessage } from '../lib/errors.js';
import { t } from '../lib/i18n.js';
import { type PageVideos as Found, findPageVideos, openPageVideo } from '../lib/page-videos.js';
import { formatSeconds } from '../lib/time-format.js';

function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/**
 * "Videos on this page" (finding 9): the active tab's videos in every frame the extension may
 * read, each opening the picker on exactly that video. Loaded after the job cards are painted.
 * Not connected yet, the list works as the menu items do: the picker asks to connect and carries on.
 */
export function PageVideos(props: { connected: boolean }) {
  const [found, setFound] = useState<Found | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [opening, setOpening] = useState(false);

  useEffect(() => {
    findPageVideos().then(setFound, () => setFound({ state: 'blocked' }));
  }, []);

  if (found?.state === 'hidden') return null;

  async function open(frameId: number, index: number) {
    if (found?.state !== 'found') return;
    setOpening(true);
    setProblem(null);
    try {
      if (await openPageVideo(found.tab, frameId, index)) window.close();
      else setProblem(t('popup.pageVideos.gone'));
    } catch (error) {
      setProblem(toErrorMessage(error));
    } finally {
      setOpening(false);
    }
  }

  const entries =
    found?.state === 'found'
      ? found.frames.flatMap((frame) => frame.videos.map((video) => ({ frame, video })))
      : [];
  return (
    <section class="page-videos" aria-labelledby="page-videos-title" data-testid="page-videos">
      <h2 id="page-videos-title">{t('popup.pageVideos.title')}</h2>
      {found === null && (
        <p class="muted" role="status">
          {t('popup.pageVideos.looking')}
        </p>
      )}
      {found?.state === 'blocked' && (
        <p class="muted" data-testid="page-videos-blocked">
          {t('popup.pageVideos.blocked')}
        </p>
      )}
      {!props.connected && entries.length > 0 && (
        <p class="muted" data-testid="page-videos-not-connected">
          {t('popup.pageVideos.notConnected')}
        </p>
      )}
      {found?.state === 'found' && entries.length === 0 && (
        <div data-testid="page-videos-none">
          <p>{t('popup.pageVideos.none')}</p>
          <p class="muted">{t('popup.pageVideos.noneHint')}</p>
        </div>
      )}
      {entries.length > 0 && (
        <ul class="page-video-list">
          {entries.map(({ frame, video }, position) => {
            const facts = [
              video.width ? `${video.width}×${video.height}` : '',
              video.durationSec !== undefined ? formatSeconds(video.durationSec) : '',
              video.playing ? t('popup.pageVideos.playing') : '',
              video.streamed ? t('popup.pageVideos.streamed') : '',
              frame.topFrame ? '' : t('popup.pageVideos.inFrame', { host: hostOf(frame.frameUrl) }),
            ].filter(Boolean);
            return (
              <li key={`${frame.frameId}:${video.index}`}>
                <button
                  type="button"
                  class="page-video"
                  data-testid="page-video"
                  disabled={opening}
                  onClick={() => void open(frame.frameId, video.index)}
                >
                  {video.thumbnail ? (
                    <img class="page-video-thumb" src={video.thumbnail} alt="" />
                  ) : (
                    <span class="page-video-thumb placeholder" aria-hidden="true">
                      ▶
                    </span>
                  )}
                  <span class="page-video-text">
                    <strong>{t('popup.pageVideos.video', { number: String(position + 1) })}</strong>
                    <span class="muted">{facts.join(' · ')}</span>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
      {problem && (
        <p class="notice bad" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
